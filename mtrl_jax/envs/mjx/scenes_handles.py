"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: handle presses and pulls, the lever and the dial."""

from __future__ import annotations

from .scene_spec import CLAWS, HAND_BOX, PADS, TABLE, PortSpec

# Handle press / pull (both XMLs hold the same handle): in the stock scene the experts touch the
# handle_link's box (geom 44, the lever arm) and its grip (geom 45, a cylinder along x, made a
# capsule: same round cross-section) with the pads and the claws, nothing else (MT1 goals 0-1 of
# seed 0). The press pushes the box from above, the pulls lift the grip or the box from below.
_HANDLE_ARM, _HANDLE_GRIP = "__g44", "__g45"
_HANDLE = PortSpec(retype=((_HANDLE_GRIP, "capsule"),), pairs=((PADS + CLAWS, (_HANDLE_ARM, _HANDLE_GRIP)),))
# The sideways XML: the experts touch only the lever arm (geom 44), so the grip is left out (the
# pull expert: 7 of 10 goals with it, 8 without). The pairs keep the fingers' 1 mm margin: without
# it the pull expert's fingers press the handle down before they lift it (8 of 10 goals, first
# successes 345-440 steps in, stock 70-115; a 25x solver budget changed nothing), with it the
# port's first successes are stock's to a few steps (docs/mjx_port.md, section 7).
_HANDLE_SIDE = PortSpec(pairs=((PADS + CLAWS, (_HANDLE_ARM,)),), margins=True)

# Lever: the fingers and the gripper base (the hand mesh, entered as its bounding box) push the
# lever's rod (geom 45, a cylinder along y, made a capsule) and its ball (geom 46, a sphere). The
# hand may go to z -0.15 (``TaskSpec.mocap_low``); the stock fingers rest on the table in most of
# the expert's steps, so the pads get the table.
_LEVER_ROD, _LEVER_BALL = "__g45", "__g46"
_LEVER = PortSpec(retype=((_LEVER_ROD, "capsule"),), boxes=((HAND_BOX, "body:right_hand:mesh"),),
                  pairs=((PADS + CLAWS + (HAND_BOX,), (_LEVER_ROD, _LEVER_BALL)), (PADS, (TABLE,))))

PORT: dict[str, PortSpec] = {
    "handle-press-v3": _HANDLE,
    "handle-pull-v3": _HANDLE,
    "handle-press-side-v3": _HANDLE_SIDE,
    "handle-pull-side-v3": _HANDLE_SIDE,
    "lever-pull-v3": _LEVER,
}

# Dial: the fingers turn the knob by its head (geom 40, a box); nothing else touches.
PORT["dial-turn-v3"] = PortSpec(pairs=((PADS + CLAWS, ("__g40",)),))
