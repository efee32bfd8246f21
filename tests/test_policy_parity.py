"""The port's drawer scenes and the policy parity tool (CPU MuJoCo only, no MJX compile)."""

import numpy as np
import pytest

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from mtrl_jax.envs.mjx import policy_parity  # noqa: E402
from mtrl_jax.envs.mjx.scene import (CLAWS, DRAWER_FRONT, HAND_BOX, PADS,  # noqa: E402
                                     build_port_spec, original_model)
from mtrl_jax.envs.mw_tasks import MT10_TASKS, sample_rand_vecs  # noqa: E402

pytestmark = pytest.mark.metaworld


class PushFront:
    """Scripted: the open gripper goes 12 cm in front of the handle, then pushes 30 cm past it."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.t = 0

    def get_action(self, obs):
        hand, handle = obs[:3], obs[4:7]
        target = handle + np.array([0.0, -0.12 if self.t < 60 else 0.3, 0.0])
        self.t += 1
        return np.append(np.clip(25 * (target - hand), -1, 1), -1.0)


@pytest.mark.parametrize("name", ["drawer-open-v3", "drawer-close-v3"])
def test_drawer_scene_pairs_whole_gripper_with_front_and_handle(name):
    """Every gripper geom (hand box, claws, pads) collides with the drawer's front wall and each
    handle capsule, and DRAWER_FRONT is the drawer box nearest the robot (smallest y)."""
    import mujoco
    _, info = build_port_spec(name)
    pairs = {frozenset(p) for p in info["pairs"]}
    assert len(pairs) == len(info["pairs"])
    m = original_model(name)
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    drawer = m.body("drawer_link").id
    boxes = [i for i in range(m.ngeom) if m.geom_bodyid[i] == drawer
             and m.geom_type[i] == mujoco.mjtGeom.mjGEOM_BOX and m.geom_contype[i]]
    assert f"__g{min(boxes, key=lambda i: d.geom_xpos[i][1])}" == DRAWER_FRONT
    capsules = [f"__g{i}" for i in range(m.ngeom) if m.geom_bodyid[i] == drawer
                and m.geom_type[i] == mujoco.mjtGeom.mjGEOM_CAPSULE]
    assert len(capsules) == 3
    for g in (HAND_BOX,) + CLAWS + PADS:
        for other in [DRAWER_FRONT] + capsules:
            assert frozenset((g, other)) in pairs


@pytest.mark.parametrize("name", ["window-open-v3", "window-close-v3"])
def test_window_scene_pairs_hand_box_with_the_whole_pane(name):
    """The hand box collides with every colliding box and capsule of the sliding pane."""
    import mujoco
    _, info = build_port_spec(name)
    pairs = {frozenset(p) for p in info["pairs"]}
    m = original_model(name)
    pane = m.body("windowb_a").id
    parts = [f"__g{i}" for i in range(m.ngeom) if m.geom_bodyid[i] == pane and m.geom_contype[i]
             and m.geom_type[i] in (mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CAPSULE)]
    assert len(parts) == 9
    assert pairs == {frozenset((HAND_BOX, g)) for g in parts}
    assert info["stands_for"] == {HAND_BOX: "__g27"}


def test_policy_parity_counts_contacts_and_marks_missing_pairs():
    """Pushing the drawer shut with the open gripper closes it on both scenes; the stock episode's
    contacts include the claw on the front wall (a port pair) and the claw on the case (none)."""
    rv = sample_rand_vecs(MT10_TASKS, 0)["drawer-close-v3"][0]
    out = policy_parity.compare("drawer-close-v3", [rv], PushFront(), n_steps=150)
    assert out["stock"] == [True] and out["port"] == [True]
    by_pair = {(r["hand"], r["other"]): r for r in out["contacts"]}
    front = by_pair[("leftclaw/leftclaw_it", f"drawer_link/{DRAWER_FRONT}")]
    assert front["in_port"] and 0 < front["steps"] <= 150
    case = [r for (h, o), r in by_pair.items() if o.startswith("drawercase_link/")]
    assert case and not any(r["in_port"] for r in case)


def test_policy_parity_refuses_a_run_that_is_not_mt1_of_a_port_task(tmp_path, capsys):
    import dataclasses
    import json

    from mtrl_jax.config import Config, resolve
    with open(tmp_path / "config.json", "w") as f:
        json.dump(dataclasses.asdict(resolve(Config(env="mt10"))), f)
    assert policy_parity.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs an MT1 run" in err and "drawer-close-v3" in err and len(err.splitlines()) == 1
