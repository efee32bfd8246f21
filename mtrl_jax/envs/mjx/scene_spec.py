"""``PortSpec``: what the MJX port changes in one task's stock scene (see ``scene.py``), and the
geom names the specs share."""

from __future__ import annotations

import dataclasses

PADS = ("rightpad_geom", "leftpad_geom")
CLAWS = ("rightclaw_it", "leftclaw_it")
TABLE = "__table_top"  # the plane the port adds at the table box's top face
HAND_BOX = "__hand_box"  # the name the drawer and window scenes give the gripper base's bounding box


@dataclasses.dataclass(frozen=True)
class PortSpec:
    # (geom selector, new type): selectors are geom names or "body:<name>:<type>" for all the
    # colliding geoms of that type in a body
    retype: tuple = ()
    # pairs of selectors; every geom matched by the first collides with every one of the second
    pairs: tuple = ()
    # (new geom name, selector of one mesh geom): a box collision geom added to the mesh's body,
    # the mesh's bounding box in its own frame; no mass, not drawn (group 3). Pairs name it.
    # (name, selector, axis, lo, hi): the bounding box of the mesh's vertices whose coordinate
    # along ``axis`` (0-2, the mesh's frame, metres) lies in [lo, hi], for one part of a mesh.
    boxes: tuple = ()
    # keep the stock geoms' margin and gap on the pairs (MuJoCo's mix: the larger of the two);
    # False drops them (0.0). For box-box pairs, whose MJX collider returns the signed distance
    # of separated boxes too, so a contact within the margin is active as on CPU MuJoCo.
    margins: bool = False
    # (iterations, ls_iterations) the scene's solver runs at least, whatever the env's budget:
    # for a scene whose contacts MJX's solver does not settle within the default 4 / 8
    min_solver_iterations: tuple = (0, 0)
