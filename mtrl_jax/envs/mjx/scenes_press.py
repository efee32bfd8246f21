"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: button presses (side, walls, coffee machine)."""

from __future__ import annotations

from .scene_spec import CLAWS, PADS, TABLE, PortSpec

# The button's cap (geom 47, the widest of its three cylinders) is what the fingers touch; it
# becomes a box (flat face kept).
_CAP = "__g47"
_BUTTON = PortSpec(retype=((_CAP, "box"),), pairs=((PADS + CLAWS, (_CAP,)),))

PORT: dict[str, PortSpec] = {
    "button-press-v3": _BUTTON,
    # the expert's right finger gets caught on the wall (geom 49) on some goals (MT1 seed 0, goal 5)
    "button-press-wall-v3": PortSpec(retype=((_CAP, "box"),), pairs=((PADS + CLAWS, (_CAP, "__g49")),)),
    # the expert does not touch this wall
    "button-press-topdown-wall-v3": _BUTTON,
    # the button (geom 55) pressed by the fingers; the mug's body (geom 10) stands on the table
    "coffee-button-v3": PortSpec(retype=(("__g55", "box"), ("__g10", "box")),
                                 pairs=((PADS + CLAWS, ("__g55",)), (("__g10",), (TABLE,)))),
}
