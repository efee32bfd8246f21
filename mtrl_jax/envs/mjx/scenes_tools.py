"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: two-part and tool tasks."""

from __future__ import annotations

from .scene_spec import CLAWS, PADS, TABLE, PortSpec

# sawyer_coffee.xml: the mug's body (geom 10, a cylinder, made a box) stands on the table and is
# pushed or pulled by the pads and claws (all four touch it in the stock experts' episodes); the
# machine is never touched. One spec for both tasks: one physics program.
_MUG = "__g10"
_COFFEE = PortSpec(retype=((_MUG, "box"),), pairs=((PADS + CLAWS, (_MUG,)), ((_MUG,), (TABLE,))))

# basketball: the pads and claws hold the ball (a sphere already), which rolls on the table and
# meets the backboard (geom 43) on the way into the hoop.
_BALL = "objGeom"

# hammer: the pads grip the handle (geom 42, a capsule); the head (geom 45) hits the nail's head
# (geom 55); head and nail are cylinders, made boxes (MJX has no box-cylinder or cheap
# cylinder-cylinder test), as is the handle's end (geom 46) that rests on the table.
_HAMMER_HANDLE, _HAMMER_HEAD, _HAMMER_END, _NAIL = "__g42", "__g45", "__g46", "__g55"

# sawyer_stick_obj.xml (one spec for both stick tasks): the pads and claws hold the stick (a box),
# which slides on the table and pushes the container's cylinders (geoms 45-46, made boxes) or hooks
# its handle (geoms 47-49). The gripper base touches the container in the stock scene too; as the
# hand mesh's bounding box it stopped the pulled stick 3 cm short of the handle (CPU MuJoCo, pull
# expert 0 of 3 goals), so it is left out.
_STICK, _CONTAINER = "objGeom", ("__g45", "__g46", "__g47", "__g48", "__g49")
_STICKS = PortSpec(retype=(("__g45", "box"), ("__g46", "box")),
                   pairs=((PADS + CLAWS, (_STICK,)), ((_STICK,), (TABLE,) + _CONTAINER),
                          (PADS + CLAWS, ("__g45", "__g47", "__g48", "__g49"))))

# peg-unplug-side: the pads pull the plug by its box (geom 43); the plug's tip (sphere 40, wider
# than the socket's hole, so pressed 8 mm into each of four walls at rest) slides along the
# socket's five walls (geoms 46-50). The flange (geom 41, a cylinder 9 cm across and 1.4 cm thick,
# made a box) rests on the socket's outer face: without it the pads, closing on the box, pushed
# the plug into the socket and tilted it (MJX expert 33% on 64 envs, against 90% on CPU Meta-World;
# solver iterations 30/30 instead of 4/8 changed nothing); with it 95%. As a capsule (longer by
# its radius at both ends) it wedged the plug (0 of 10 goals). The pulled plug falls on the table.
_PLUG_WALLS = ("__g46", "__g47", "__g48", "__g49", "__g50")
_PLUG = PortSpec(retype=(("__g41", "box"),),
                 pairs=((PADS + CLAWS, ("__g43", "__g42")), (("__g40", "__g41"), _PLUG_WALLS),
                        (("__g40", "__g41", "__g42", "__g43"), (TABLE,))))

# sawyer_assembly_peg.xml (one spec for both tasks): the pads hold the ring by its handle (geom 47);
# the ring's eight capsules (geoms 39-46) rest on the table and slide along the pole (geom 49, a
# cylinder, made a capsule: capsule-capsule is MJX's cheap test, capsule-cylinder its SDF one).
_RING = tuple(f"__g{i}" for i in range(39, 47))
_ASSEMBLY = PortSpec(retype=(("__g49", "capsule"),),
                     pairs=((PADS + CLAWS, ("__g47",)), (_RING + ("__g47",), (TABLE,)), (_RING, ("__g49",))))

PORT: dict[str, PortSpec] = {
    "assembly-v3": _ASSEMBLY,
    "disassemble-v3": _ASSEMBLY,
    "stick-push-v3": _STICKS,
    "stick-pull-v3": _STICKS,
    "peg-unplug-side-v3": _PLUG,
    "basketball-v3": PortSpec(pairs=((PADS + CLAWS, (_BALL,)), ((_BALL,), (TABLE, "__g43")))),
    "hammer-v3": PortSpec(retype=((_HAMMER_HEAD, "box"), (_HAMMER_END, "box"), (_NAIL, "box")),
                          pairs=((PADS + CLAWS, (_HAMMER_HANDLE,)), ((_HAMMER_HEAD,), (_NAIL,)),
                                 ((_HAMMER_HANDLE, _HAMMER_HEAD, _HAMMER_END), (TABLE,)))),
    "coffee-push-v3": _COFFEE,
    "coffee-pull-v3": _COFFEE,
}
