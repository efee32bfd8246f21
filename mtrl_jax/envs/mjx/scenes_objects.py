"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: free objects pushed, picked or placed."""

from __future__ import annotations

from .scene_spec import TABLE, PortSpec

PORT: dict[str, PortSpec] = {
    # as reach-v3: the puck (a cylinder, made a box) rests on the table; the expert reaches over
    # the wall without touching it or the puck
    "reach-wall-v3": PortSpec(retype=(("objGeom", "box"),), pairs=((("objGeom",), (TABLE,)),)),
}
