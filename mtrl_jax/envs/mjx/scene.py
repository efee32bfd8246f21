"""MJX-runnable versions of the MT10 scenes, derived at load time from metaworld's shipped XML
with ``mujoco.MjSpec`` (nothing of theirs is copied or edited on disk).

What the transform does, per task (``PORT_PAIRS`` lists the contacts each task keeps):
- every geom stops colliding by default (contype = conaffinity = 0): the arm, the hand mesh,
  the table box, the fixtures' cases. Contacts come only from explicit ``<pair>``s:
  finger pads with the task's object/handle (the window tasks: the gripper base, see ``_WINDOW``),
  the object with the table top (a plane at the table's top face) and, for peg-insert-side, the
  peg with the hole's walls;
- a cylinder that is in a pair becomes a box of the same extents when it stands on a surface or
  is pressed from above (puck, button: flat faces kept) or a capsule when it is a bar (handles);
  bodies whose geoms change keep the original mass and inertia (explicit inertial);
- a mesh that pushes in the stock scene (the window tasks' gripper base) enters as its bounding
  box: a massless, undrawn box geom added in the mesh's body and frame (``PortSpec.boxes``);
- pair parameters (condim, friction, solref, solimp) are MuJoCo's mix of the two geoms' own;
  margins are dropped unless the spec keeps them (``PortSpec.margins``: box-box scenes);
- the body a reset moves (door, drawer, button box, peg box, window) stays a plain body: the env
  batches ``body_pos`` of that one body (mjx 3.3.0 places a mocap body but not its children, so
  the mocap trick does not work there);
- the solver budget shrinks (``iterations``/``ls_iterations``), except where a scene sets a
  floor (``PortSpec.min_solver_iterations``).
"""

from __future__ import annotations

import os

import mujoco
import numpy as np

from mtrl_jax.envs.mw_tasks import SPECS

from . import scenes_handles, scenes_hinge, scenes_objects, scenes_press, scenes_sweeps, scenes_tools
from .scene_spec import CLAWS, HAND_BOX, PADS, TABLE, PortSpec  # noqa: F401



def asset_path(task: str) -> str:
    import metaworld

    return os.path.join(os.path.dirname(metaworld.__file__), "assets", "sawyer_xyz", SPECS[task].xml)


def reset_mocap_welds(m: mujoco.MjModel) -> mujoco.MjModel:
    """What SawyerMocapBase.__init__ does to the model: the mocap weld's data."""
    for i in range(m.neq):
        if m.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
            m.eq_data[i] = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])
    return m


def original_model(task: str) -> mujoco.MjModel:
    """The stock scene as Meta-World runs it."""
    return reset_mocap_welds(mujoco.MjModel.from_xml_path(asset_path(task)))


def in_subtree(model: mujoco.MjModel, geom: int, body: str) -> bool:
    """Whether ``geom`` belongs to ``body`` or to one of its descendants."""
    b, root = int(model.geom_bodyid[geom]), model.body(body).id
    while b != 0:
        if b == root:
            return True
        b = int(model.body_parentid[b])
    return False


_OBJ = PortSpec(retype=(("objGeom", "box"),), pairs=((("objGeom",), (TABLE,)), (PADS, ("objGeom",))))

# Window: in the stock scene the pads never touch the handle (the experts push with the pads under
# the handle's lowest part); the gripper base (the hand mesh, reaching 1-12 cm above the pads) and
# a claw do. The hand mesh (6,693 vertices) enters as its bounding box, the one geom in the pairs
# (pads or claws in the pairs as well change nothing in the experts' episodes on CPU MuJoCo). A
# learned policy pushes the sliding pane's frame and glass instead of the handle: a CPU-trained
# window-close policy (docs/results.md) succeeded on 20 of 20 goals on the stock scene and on 0 of
# 20 with the hand box against the handle alone, and on 20 of 20 with the hand box against the
# pane's boxes as well (policy_parity.py). Its claws and pads touch the pane too; they are left out
# (the hand box alone gives the same success, with 6 box-box pairs instead of 30).
_WINDOW = PortSpec(boxes=((HAND_BOX, "body:right_hand:mesh"),),
                   pairs=(((HAND_BOX,), ("body:windowb_a:capsule", "body:windowb_a:box")),))

# Drawer: a learned policy closes the drawer with the gripper base, the claws and the pads against
# the drawer's front wall and its handle (policy_parity.py on the two CPU-trained drawer-close
# policies of docs/results.md, 20 goals each: stock scene 1.00 and 1.00, pads-handle pairs only
# 0.20 on 5 goals). With the whole gripper (hand bounding box, claws, pads) against the front wall
# and the handle's capsules the port scene gives 1.00 and 1.00; adding the other walls and the
# case changes nothing there and costs 45 more pairs.
DRAWER_FRONT = "__g44"  # the drawer_link box nearest the robot (unnamed in metaworld's XML)
_DRAWER = PortSpec(boxes=((HAND_BOX, "body:right_hand:mesh"),),
                   pairs=(((HAND_BOX,) + CLAWS + PADS, (DRAWER_FRONT, "body:drawer_link:capsule")),))

PORT_PAIRS: dict[str, PortSpec] = {
    "reach-v3": PortSpec(retype=(("objGeom", "box"),), pairs=((("objGeom",), (TABLE,)),)),
    "push-v3": _OBJ,
    "pick-place-v3": _OBJ,
    "door-open-v3": PortSpec(retype=(("body:door_link:cylinder", "capsule"),),
                             pairs=((PADS, ("body:door_link:capsule",)),)),
    "drawer-open-v3": _DRAWER,
    "drawer-close-v3": _DRAWER,
    "button-press-topdown-v3": PortSpec(retype=(("body:button:cylinder", "box"),),
                                        pairs=((PADS, ("body:button:box",)),)),
    "peg-insert-side-v3": PortSpec(pairs=((PADS, ("peg",)), (("peg",), (TABLE,)),
                                          (("peg",), ("body:box:box",)))),
    "window-open-v3": _WINDOW,
    "window-close-v3": _WINDOW,
}
for _family in (scenes_press.PORT, scenes_handles.PORT, scenes_hinge.PORT, scenes_objects.PORT, scenes_sweeps.PORT,
                scenes_tools.PORT):
    assert not set(_family) & set(PORT_PAIRS), set(_family) & set(PORT_PAIRS)
    PORT_PAIRS.update(_family)

_TYPES = {"box": mujoco.mjtGeom.mjGEOM_BOX, "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
          "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER, "plane": mujoco.mjtGeom.mjGEOM_PLANE,
          "mesh": mujoco.mjtGeom.mjGEOM_MESH}


def mesh_part_box(m: mujoco.MjModel, geom: int, axis: int, lo: float, hi: float):
    """(center (3,), half sizes (3,)) in the mesh geom's frame of the bounding box of its vertices
    whose coordinate along ``axis`` lies in [lo, hi]."""
    mesh = int(m.geom_dataid[geom])
    adr, n = int(m.mesh_vertadr[mesh]), int(m.mesh_vertnum[mesh])
    verts = np.asarray(m.mesh_vert[adr:adr + n], np.float64)
    part = verts[(verts[:, axis] >= lo) & (verts[:, axis] <= hi)]
    if not len(part):
        raise ValueError(f"no vertex of geom {geom}'s mesh has coordinate {axis} in [{lo}, {hi}]")
    top, bottom = part.max(0), part.min(0)
    return (top + bottom) / 2, (top - bottom) / 2


def _mix_pair(m: mujoco.MjModel, g1: int, g2: int) -> dict:
    """MuJoCo's default mixing of two geoms' contact parameters (what a <pair> must state)."""
    mix1, mix2 = m.geom_solmix[g1], m.geom_solmix[g2]
    w = 0.5 if (mix1 + mix2) == 0 else mix1 / (mix1 + mix2)
    f = np.maximum(m.geom_friction[g1], m.geom_friction[g2])
    return dict(condim=int(max(m.geom_condim[g1], m.geom_condim[g2])),
                friction=[f[0], f[0], f[1], f[2], f[2]],
                solref=list(w * m.geom_solref[g1] + (1 - w) * m.geom_solref[g2]),
                solimp=list(w * m.geom_solimp[g1] + (1 - w) * m.geom_solimp[g2]),
                margin=float(max(m.geom_margin[g1], m.geom_margin[g2])),
                gap=float(max(m.geom_gap[g1], m.geom_gap[g2])))


def build_port_spec(task: str, iterations: int = 4, ls_iterations: int = 8):
    """Returns (MjSpec, info) of the MJX port of ``task``'s scene."""
    spec = mujoco.MjSpec.from_file(asset_path(task))
    for k, b in enumerate(spec.bodies):  # some scenes leave a body unnamed (the plate slides' puck)
        if not b.name:
            b.name = f"__b{k}"
    m0 = spec.compile()
    port = PORT_PAIRS[task]
    geoms = list(spec.geoms)
    assert len(geoms) == m0.ngeom
    names = []
    for i, g in enumerate(geoms):
        if not g.name:
            g.name = f"__g{i}"
        names.append(g.name)
    m_named = spec.compile()
    for i in range(m0.ngeom):  # the spec's geom order is the model's geom order
        assert mujoco.mj_id2name(m_named, mujoco.mjtObj.mjOBJ_GEOM, i) == names[i]
    body_of = [mujoco.mj_id2name(m0, mujoco.mjtObj.mjOBJ_BODY, int(m0.geom_bodyid[i])) for i in range(m0.ngeom)]

    collides = [(m0.geom_contype[i] | m0.geom_conaffinity[i]) != 0 for i in range(m0.ngeom)]
    new_type = [int(m0.geom_type[i]) for i in range(m0.ngeom)]

    added = {}  # name of a geom the port adds -> the stock geom whose contact parameters it takes

    def select(sel):
        if sel == TABLE:
            return [TABLE]
        if sel in added:
            return [sel]
        if sel.startswith("body:"):
            _, body, typ = sel.split(":")
            out = [names[i] for i in range(m0.ngeom)
                   if in_subtree(m0, i, body) and collides[i] and new_type[i] == _TYPES[typ]]
            assert out, (task, sel)
            return out
        assert sel in names, (task, sel)
        return [sel]

    # retype (the selector "body:" covers the body's subtree)
    changed_bodies = set()
    for sel, typ in port.retype:
        for n in select(sel):
            i = names.index(n)
            g = geoms[i]
            old = int(m0.geom_type[i])
            size = np.array(m0.geom_size[i])
            if old == _TYPES["cylinder"] and typ == "box":
                g.size = [size[0], size[0], size[1]]
            elif old == _TYPES["cylinder"] and typ == "capsule":
                g.size = [size[0], max(size[1] - size[0], 1e-3), 0.0]
            g.type = _TYPES[typ]
            new_type[i] = _TYPES[typ]
            changed_bodies.add(mujoco.mj_id2name(m0, mujoco.mjtObj.mjOBJ_BODY, int(m0.geom_bodyid[i])))
    for bname in changed_bodies:  # keep the original mass and inertia
        b = spec.body(bname)
        bid = m0.body(bname).id
        b.explicitinertial = True
        b.mass = float(m0.body_mass[bid])
        b.ipos = list(m0.body_ipos[bid])
        b.iquat = list(m0.body_iquat[bid])
        b.inertia = list(m0.body_inertia[bid])
    # bounding boxes of meshes as extra collision geoms
    for new_name, sel, *part in port.boxes:
        (src,) = select(sel)
        i = names.index(src)
        center, half = mesh_part_box(m0, i, *part) if part else (m0.geom_aabb[i][:3], m0.geom_aabb[i][3:])
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, m0.geom_quat[i])
        box = spec.body(body_of[i]).add_geom()
        box.name = new_name
        box.type = _TYPES["box"]
        box.size = list(half)
        box.pos = list(m0.geom_pos[i] + rot.reshape(3, 3) @ center)
        box.quat = list(m0.geom_quat[i])
        box.density = 0.0
        box.group = 3
        box.rgba = [0, 0, 0, 0]
        added[new_name] = i
    # no default collisions
    for g in spec.geoms:
        g.contype = 0
        g.conaffinity = 0
    # table top as a plane
    d0 = mujoco.MjData(m0)
    mujoco.mj_forward(m0, d0)
    tid = m0.body("tablelink").id
    top = max(d0.geom_xpos[i][2] + m0.geom_size[i][2] for i in range(m0.ngeom)
              if m0.geom_bodyid[i] == tid and m0.geom_type[i] == _TYPES["box"])
    plane = spec.worldbody.add_geom()
    plane.name = TABLE
    plane.type = _TYPES["plane"]
    plane.size = [0.0, 0.0, 0.05]
    plane.pos = [0.0, 0.0, float(top)]
    plane.contype = 0
    plane.conaffinity = 0
    plane.rgba = [0, 0, 0, 0]
    table_geom = [i for i in range(m0.ngeom) if m0.geom_bodyid[i] == tid and collides[i]][0]
    # pairs
    pair_list = []
    for s1, s2 in port.pairs:
        for a in dict.fromkeys(x for s in s1 for x in select(s)):
            for b in dict.fromkeys(x for s in s2 for x in select(s)):
                ia = table_geom if a == TABLE else added[a] if a in added else names.index(a)
                ib = table_geom if b == TABLE else added[b] if b in added else names.index(b)
                p = spec.add_pair()
                p.geomname1, p.geomname2 = a, b
                mix = _mix_pair(m0, ia, ib)
                p.condim = mix["condim"]
                p.friction = mix["friction"]
                p.solref = mix["solref"]
                p.solimp = mix["solimp"]
                p.margin = mix["margin"] if port.margins else 0.0
                p.gap = mix["gap"] if port.margins else 0.0
                pair_list.append((a, b))
    spec.option.iterations = max(iterations, port.min_solver_iterations[0])
    spec.option.ls_iterations = max(ls_iterations, port.min_solver_iterations[1])
    return spec, dict(pairs=pair_list, table_top=float(top), retyped=sorted(changed_bodies),
                      added=sorted(added), stands_for={a: names[i] for a, i in added.items()})


def port_model(task: str, iterations: int = 4, ls_iterations: int = 8) -> mujoco.MjModel:
    spec, _ = build_port_spec(task, iterations, ls_iterations)
    return reset_mocap_welds(spec.compile())
