"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: free objects pushed, picked or placed: walls, push-back, the hole, the bins."""

from __future__ import annotations

from .scene_spec import PADS, TABLE, PortSpec

# as push-v3 / pick-place-v3: the puck (a cylinder, made a box) on the table top, the pads on it
_PUCK = PortSpec(retype=(("objGeom", "box"),), pairs=((("objGeom",), (TABLE,)), (PADS, ("objGeom",))))

# The wall tasks: the puck also meets the wall's collision box (the experts lift or steer it past
# the wall and never touch it; a policy that pushes straight would otherwise pass through).
WALL_COL = "__g38"  # the wall body's class="wall_col" box (unnamed in metaworld's XML)
_PUCK_WALL = PortSpec(retype=(("objGeom", "box"),),
                      pairs=((("objGeom",), (TABLE, WALL_COL)), (PADS, ("objGeom",))))

PORT: dict[str, PortSpec] = {
    # as reach-v3: the puck (a cylinder, made a box) rests on the table; the expert reaches over
    # the wall without touching it or the puck
    "reach-wall-v3": PortSpec(retype=(("objGeom", "box"),), pairs=((("objGeom",), (TABLE,)),)),
    "push-wall-v3": _PUCK_WALL,
    "pick-place-wall-v3": _PUCK_WALL,
    "push-back-v3": PortSpec(retype=(("objGeom", "box"),), pairs=((("objGeom",), (TABLE,)), (PADS, ("objGeom",)))),
    "pick-out-of-hole-v3": PortSpec(retype=(("objGeom", "box"),),
                                    pairs=((("objGeom",), (TABLE,)), (PADS, ("objGeom", TABLE)))),
    "bin-picking-v3": PortSpec(pairs=((("body:objA:box",), ("__g43", "__g49", TABLE)), (PADS, ("body:objA:box",)))),
}
