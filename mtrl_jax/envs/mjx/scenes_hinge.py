"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: doors, faucets, plate slides and box-close."""

from __future__ import annotations

from .scene_spec import CLAWS, HAND_BOX, PADS, TABLE, PortSpec

# Plate slides: the puck rides on two slide joints (no table contact); in the stock scene the
# experts push it with the left pad and the left claw only (goal 0 of MT1, seed 0: 112-120 contact
# steps each for plate-slide and plate-slide-back). The puck's collision geom is a box already in
# metaworld's XML (0.05 x 0.05 x 0.015), so the "box" retype changes nothing but fixing the body's
# stock inertia; as a capsule instead the experts slid off it (CPU MuJoCo, 10 goals: plate-slide
# 0.60, plate-slide-back 0.00, plate-slide-back-side 1.00 but 290 steps late).
_PLATE = PortSpec(retype=(("puck", "box"),), pairs=((PADS + CLAWS, ("puck",)),))

_GRIPPER = (HAND_BOX,) + CLAWS + PADS
_HAND = ((HAND_BOX, "body:right_hand:mesh"),)

# Faucets: the pads and claws turn the handle by its capsule (geom 43); the gripper base touches it
# in 32-79 of the expert's steps as well, not needed for the turn. The hand may go to z -0.15 here
# (``TaskSpec.mocap_low``); the stock pads and claws then stop on the table, so the pads get it.
_FAUCET = PortSpec(pairs=((PADS + CLAWS, ("__g43",)), (PADS, (TABLE,))))

# sawyer_door_lock.xml: the gripper turns the lock's lever (geom 55) and, locking, leans on the door
# (geom 48, 289-322 steps of 500 in the stock expert's episodes). One spec for both tasks. The
# hand may go to z -0.15 (``TaskSpec.mocap_low``): the pads stop on the table, as the stock ones.
_LOCK = PortSpec(boxes=_HAND, pairs=((_GRIPPER, ("__g55", "__g48")), (PADS, (TABLE,))))

# box-close: the pads lift the lid by its handle bar (geom 49; the handle's mesh around it left
# out). The lid's four rim boxes rest on the table; on the box its plate (geom 45) lies on the four
# walls' tops. The rims get no wall pairs: where the stock expert succeeds (8 of 10 goals), its rims
# touch the walls in 2 steps before the success (one goal), and with the 16 rim-wall pairs the
# port's rims caught on the walls while the lid was carried (CPU MuJoCo, 50 goals: 62% with them, 98%
# without, stock 86%). The pairs keep the stock margins (1 mm on the fingers; without: 6 of 10 goals).
# MJX's solver at the default 4 / 8 iterations lets the lid slip out of the pads while it is carried
# (MJX, 64 envs, 50 goals, 500 steps: 50%; at 10 / 10: 97%, the step 1.1x). docs/mjx_port.md has the runs.
_LID_PLATE, _LID_RIM = "__g45", ("__g44", "__g46", "__g47", "__g48")
_BOX_WALLS = ("__g37", "__g38", "__g39", "__g40")
_BOX = PortSpec(boxes=(("__lid_handle", "BoxHandleGeom"),),
                pairs=((PADS + CLAWS, ("__lid_handle",)), (_LID_RIM, (TABLE,)), ((_LID_PLATE,), _BOX_WALLS)),
                margins=True, min_solver_iterations=(10, 10))

PORT: dict[str, PortSpec] = {
    "faucet-open-v3": _FAUCET,
    "faucet-close-v3": _FAUCET,
    "door-close-v3": PortSpec(boxes=_HAND, pairs=((_GRIPPER, ("__g51",)),)),
    "door-lock-v3": _LOCK,
    "door-unlock-v3": _LOCK,
    "box-close-v3": _BOX,
    "plate-slide-v3": _PLATE,
    "plate-slide-back-v3": _PLATE,
    "plate-slide-side-v3": _PLATE,
    "plate-slide-back-side-v3": _PLATE,
}
