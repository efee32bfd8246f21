"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: two-part and tool tasks."""

from __future__ import annotations

from .scene_spec import CLAWS, PADS, TABLE, PortSpec

# sawyer_coffee.xml: the mug's body (geom 10, a cylinder, made a box) stands on the table and is
# pushed or pulled by the pads and claws (all four touch it in the stock experts' episodes); the
# machine is never touched. One spec for both tasks: one physics program.
_MUG = "__g10"
_COFFEE = PortSpec(retype=((_MUG, "box"),), pairs=((PADS + CLAWS, (_MUG,)), ((_MUG,), (TABLE,))))

PORT: dict[str, PortSpec] = {
    "coffee-push-v3": _COFFEE,
    "coffee-pull-v3": _COFFEE,
}
