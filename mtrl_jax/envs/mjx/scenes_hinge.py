"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: doors, faucets, plate slides and box-close."""

from __future__ import annotations

from .scene_spec import CLAWS, HAND_BOX, PADS, PortSpec

# Plate slides: the puck rides on two slide joints (no table contact); in the stock scene the
# experts push it with the left pad and the left claw only (goal 0 of MT1, seed 0: 112-120 contact
# steps each for plate-slide and plate-slide-back). The puck's collision geom is a box already in
# metaworld's XML (0.05 x 0.05 x 0.015), so the "box" retype changes nothing but fixing the body's
# stock inertia; as a capsule instead the experts slid off it (CPU MuJoCo, 10 goals: plate-slide
# 0.60, plate-slide-back 0.00, plate-slide-back-side 1.00 but 290 steps late).
_PLATE = PortSpec(retype=(("puck", "box"),), pairs=((PADS + CLAWS, ("puck",)),))

_GRIPPER = (HAND_BOX,) + CLAWS + PADS
_HAND = ((HAND_BOX, "body:right_hand:mesh"),)

PORT: dict[str, PortSpec] = {
    "door-close-v3": PortSpec(boxes=_HAND, pairs=((_GRIPPER, ("__g51",)),)),
    "door-unlock-v3": PortSpec(boxes=_HAND, pairs=((_GRIPPER, ("__g55",)),)),
    "plate-slide-v3": _PLATE,
    "plate-slide-back-v3": _PLATE,
    "plate-slide-side-v3": _PLATE,
    "plate-slide-back-side-v3": _PLATE,
}
