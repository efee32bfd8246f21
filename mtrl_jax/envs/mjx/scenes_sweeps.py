"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: an object moved into a fixed place: shelf, hole, soccer goal, sweeps."""

from __future__ import annotations

from .scene_spec import CLAWS, PADS, TABLE, PortSpec

# sawyer_table_with_hole.xml: the table top is four boxes around a hole (x -0.08..0.08,
# y 0.76..0.92) whose floor is the top of the table's body box (z 0); a plane cannot stand for it.
# __g7: the body box (the hole's floor), __g9 / __g12: in front of / behind the hole, __g10 /
# __g11: left / right of it (unnamed in metaworld's XML).
HOLE_TABLE = ("__g7", "__g9", "__g10", "__g11", "__g12")

# hand-insert and sweep-into share the scene (one physics program): the block on the holed table,
# pushed by the pads and claws (both touch it in the stock experts' episodes). The pads stop on all
# five table boxes, as the stock ones: hand-insert's hand may go to z -0.15 (``TaskSpec.mocap_low``)
# and its stock expert rests the fingers on the hole's floor; sweep-into's hand, clipped at z 0.05,
# holds its fingers below the top boxes' face (z 0.05) unless they stop on it (with pads-floor
# pairs only, its hand strayed 103 mm from stock's over 3 expert episodes, against 26 mm now).
_HOLE = PortSpec(pairs=((("objGeom",), HOLE_TABLE), (PADS + CLAWS, ("objGeom",)), (PADS, HOLE_TABLE)))

PORT: dict[str, PortSpec] = {
    "hand-insert-v3": _HOLE,
    "sweep-into-v3": _HOLE,
    # the block is carried onto the shelf's board: it collides with the shelf's seven boxes
    "shelf-place-v3": PortSpec(pairs=((("objGeom",), (TABLE,)), (PADS, ("objGeom",)),
                                      (("objGeom",), ("body:shelf:box",)))),
    # the ball (a sphere already) rolls on the table, pushed by the pads and claws
    "soccer-v3": PortSpec(pairs=((("objGeom",), (TABLE,)), (PADS + CLAWS, ("objGeom",)))),
    "sweep-v3": PortSpec(pairs=((("objGeom",), (TABLE,)), (PADS + CLAWS, ("objGeom",)))),
}
