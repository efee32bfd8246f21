"""QMP: the Q-switch mixture picks the best-scored policy, stores data under the collecting task,
keeps the separate tasks' gradients apart, logs a selection matrix, and learns point-mt."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtrl_jax.agents import qmp
from mtrl_jax.agents.sac import make_sac, task_onehots
from mtrl_jax.config import Config, resolve
from mtrl_jax.envs.base import EnvSpec, StepOut
from mtrl_jax.methods import build_method, make_agent
from mtrl_jax.nets import Network, separate
from mtrl_jax.nets.base import mlp_layers
from mtrl_jax.train import make_learner, make_train
from init_checks import check_fan_in_uniform

T, E, OBS, ACT = 5, 3, 7, 2


def build(gate="qswitch", hidden=(8, 8), **kw):
    cfg = resolve(Config(algo="qmp", env="point-mt", hidden=hidden, qmp_gate=gate, **kw))
    sac = make_agent(cfg, EnvSpec.sized(OBS, ACT, T))
    return cfg, sac, sac.init(jax.random.PRNGKey(0))


def random_obs(seed=1, e=E):
    return jax.random.uniform(jax.random.PRNGKey(seed), (T, e, OBS), minval=-1, maxval=1)


def layers(params):
    """The separate networks' stacked layers, in order: [{"kernel": (..., T, in, out),
    "bias": (..., T, out)}, ...] (the critics' leaves carry the twin axis first)."""
    return mlp_layers(params["params"])


ANGLES = 2 * np.pi * np.arange(T) / T
POLICY_ACTIONS = 0.9 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], -1)      # (T, A) on a circle
PREFERRED = (np.arange(T) + 2) % T                                         # task i prefers i + 2


def hand_set(state):
    """Policy j always acts POLICY_ACTIONS[j] (log-std at its minimum); task i's critics score
    Q_i(s, a) = f(u_i . a), f increasing, u_i pointing at POLICY_ACTIONS[PREFERRED[i]], so the
    best-scored policy for task i is PREFERRED[i] at every state."""
    actor = jax.tree.map(jnp.zeros_like, state.actor)
    last = layers(actor)[-1]
    mean = np.arctanh(POLICY_ACTIONS)
    last["bias"] = jnp.asarray(np.concatenate([mean, np.full((T, ACT), -20.0)], -1), jnp.float32)

    critic = jax.tree.map(jnp.zeros_like, state.critic)          # leaves (2, T, ...)
    u = POLICY_ACTIONS[PREFERRED] / 0.9                          # (T, A) unit directions
    first, *rest = layers(critic)
    first["kernel"] = first["kernel"].at[:, :, OBS:, 0].set(jnp.asarray(0.5 * u, jnp.float32)[None])
    first["bias"] = first["bias"].at[:, :, 0].set(1.0)           # keep unit 0 positive for ReLU
    for layer in rest:
        layer["kernel"] = layer["kernel"].at[:, :, 0, 0].set(1.0)  # pass unit 0 on, increasing
    return state._replace(actor=actor, critic=critic)


def test_separate_init_is_fan_in_uniform_per_layer_and_task_slices_differ():
    hidden = (16, 12)
    _, _, state = build(hidden=hidden)
    for params, in_dim, out_dim, lead in ((state.actor, OBS, 2 * ACT, (T,)),
                                          (state.critic, OBS + ACT, 1, (2, T))):
        sizes = (in_dim, *hidden, out_dim)
        assert sorted(params["params"]) == [f"layers_{i}" for i in range(len(sizes) - 1)]
        for i, layer in enumerate(layers(params)):
            fan_in, out = sizes[i], sizes[i + 1]
            assert layer["kernel"].shape == (*lead, fan_in, out)
            assert layer["bias"].shape == (*lead, out)
            for kind, leaf in layer.items():
                check_fan_in_uniform(leaf, fan_in, (in_dim, i, kind))
                flat = np.asarray(leaf).reshape(-1, T, *leaf.shape[len(lead):])
                for twin in flat:                   # each task's slice is its own draw
                    for a in range(T):
                        for b in range(a + 1, T):
                            assert not np.allclose(twin[a], twin[b]), (in_dim, i, kind, a, b)
                if len(lead) == 2:                  # and so is each twin critic
                    assert not np.allclose(flat[0], flat[1]), (i, kind)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_separate_runs_each_groups_task_mlp(activation):
    """Group g's rows go through the MLP of its task (groups in any task order)."""
    net = separate.make_separate(OBS, T, 3, (6, 5), activation)
    params = net.init(jax.random.PRNGKey(3))
    order = np.array([3, 0, 4, 4, 1])                      # group -> task
    onehot = jnp.broadcast_to(jax.nn.one_hot(order, T)[:, None], (T, E, T))
    obs = random_obs()
    out, aux = jax.jit(lambda p, o, h: net.apply(p, o, h, None, {}))(params, obs, onehot)
    assert aux == {} and out.shape == (T, E, 3)
    act = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0)}[activation]
    tree = [jax.tree.map(lambda a: np.asarray(a, np.float64), layer) for layer in layers(params)]
    for g, t in enumerate(order):
        x = np.asarray(obs[g], np.float64)
        for i, layer in enumerate(tree):
            x = x @ layer["kernel"][t] + layer["bias"][t]
            x = act(x) if i < len(tree) - 1 else x
        np.testing.assert_allclose(out[g], x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_qswitch_executes_the_best_scored_policys_action(activation):
    _, sac, state = build(qmp_activation=activation)
    state = hand_set(state)
    obs = random_obs()
    action, choice, candidates, scores, _ = qmp.mixture_step(sac, state, obs,
                                                             jax.random.PRNGKey(2))
    # every policy proposed its own action at every task's state
    np.testing.assert_allclose(candidates, np.broadcast_to(POLICY_ACTIONS[:, None, None],
                                                           (T, T, E, ACT)), atol=1e-5)
    np.testing.assert_array_equal(choice, np.broadcast_to(PREFERRED[:, None], (T, E)))
    np.testing.assert_array_equal(np.argmax(scores, axis=1), choice)
    np.testing.assert_allclose(action, np.broadcast_to(POLICY_ACTIONS[PREFERRED][:, None],
                                                       (T, E, ACT)), atol=1e-5)


def test_own_gate_always_executes_the_tasks_own_policy():
    _, sac, state = build(gate="own")
    state = hand_set(state)
    action, choice, _, _, _ = qmp.mixture_step(sac, state, random_obs(), jax.random.PRNGKey(2),
                                               gate="own")
    np.testing.assert_array_equal(choice, np.broadcast_to(np.arange(T)[:, None], (T, E)))
    np.testing.assert_allclose(action, np.broadcast_to(POLICY_ACTIONS[:, None], (T, E, ACT)),
                               atol=1e-5)


def test_uniform_gate_picks_every_policy_about_equally():
    _, sac, state = build(gate="uniform")
    obs = random_obs(e=400)
    _, choice, _, _, _ = qmp.mixture_step(sac, state, obs, jax.random.PRNGKey(3), gate="uniform")
    freq = np.stack([np.bincount(np.asarray(c), minlength=T) for c in choice]) / 400
    assert np.abs(freq - 1 / T).max() < 0.08


@pytest.mark.parametrize("qmp_with", [None, "mhsac"])
def test_candidates_and_scores_are_policy_j_and_critic_i_at_task_is_state(qmp_with):
    """Random networks: candidate (j, i) is policy j's action at task i's state, score (i, j) is
    task i's min twin Q of it, and the executed action is the chosen candidate itself."""
    _, sac, state = build(qmp_with=qmp_with)
    obs = random_obs()
    action, choice, candidates, scores, _ = qmp.mixture_step(sac, state, obs,
                                                             jax.random.PRNGKey(5))
    onehot = lambda t: jnp.broadcast_to(jax.nn.one_hot(t, T), (1, E, T))  # noqa: E731
    for i in range(T):
        for j in range(T):
            q = sac.q_values(state, obs[i][None], candidates[j, i][None], onehot(i))[0]
            np.testing.assert_allclose(scores[i, j], q, rtol=1e-5, atol=1e-5)
    assert len(np.unique(np.asarray(choice))) > 1          # random critics disagree
    np.testing.assert_array_equal(choice, np.argmax(scores, axis=1))
    picked = np.asarray(candidates)[np.asarray(choice), np.arange(T)[:, None], np.arange(E)]
    np.testing.assert_array_equal(action, picked)
    # policy j's mean at task i's state: with log-std at its minimum the sample is tanh(mean)
    actor = state.actor
    last = layers(actor)[-1] if qmp_with is None else actor["params"]["heads"]
    last["kernel"] = last["kernel"].at[:, :, ACT:].set(0.0)
    last["bias"] = last["bias"].at[:, ACT:].set(-20.0)
    state = state._replace(actor=actor)
    candidates, _ = qmp.candidate_actions(sac, state, obs, jax.random.PRNGKey(6))
    for j in range(T):
        for i in range(T):
            own = sac.eval_action(state, obs[i][None], onehot(j))[0]
            np.testing.assert_allclose(candidates[j, i], own, atol=1e-5)


def test_stored_fields_are_those_of_the_acting_policy():
    """A method that stores per-transition fields (D2R's routes) gets the acting policy's."""
    cfg = resolve(Config(algo="qmp", env="point-mt", hidden=(8,), qmp_gate="uniform"))
    base = build_method(cfg, EnvSpec.sized(OBS, ACT, T))
    actor = base.networks.actor

    def apply(params, obs, onehot, rng, extra):
        out, _ = actor.apply(params, obs, onehot, rng, extra)
        return out, {"store": {"policy": jnp.argmax(onehot, -1)}, "per_group": onehot[:, 0]}

    networks = base.networks._replace(actor=Network(actor.init, apply),
                                      store_spec={"policy": ((), jnp.int32)})
    sac = make_sac(networks, cfg, T, ACT, base.hooks)
    state = sac.init(jax.random.PRNGKey(0))
    _, choice, _, _, stored = qmp.mixture_step(sac, state, random_obs(e=8),
                                               jax.random.PRNGKey(1), gate="uniform")
    assert len(np.unique(np.asarray(choice))) == T
    np.testing.assert_array_equal(stored["policy"], choice)


def test_warmup_uses_own_policy_and_random_warmup_counts_nothing():
    cfg, sac, state = build(qmp_warmup=1000, warmup_steps=100)
    state = hand_set(state)
    collect = jax.jit(qmp.make_mixture_collect(sac, cfg.qmp_gate, cfg.qmp_warmup))
    obs, onehot, key = random_obs(), task_onehots(T, E), jax.random.PRNGKey(0)
    action, aux = collect(state, obs, onehot, key, 500)            # mixture warm-up: own policy
    np.testing.assert_allclose(action, np.broadcast_to(POLICY_ACTIONS[:, None], (T, E, ACT)),
                               atol=1e-5)
    np.testing.assert_array_equal(aux["stats"]["qmp_selection"], E * np.eye(T))
    action, aux = collect(state, obs, onehot, key, 1000)           # mixture on
    np.testing.assert_array_equal(aux["stats"]["qmp_selection"],
                                  E * np.eye(T)[PREFERRED])
    select_action = jax.jit(make_learner(cfg, sac)[0])              # the loop's action choice
    _, aux = select_action(state, obs, key, 50)                    # random actions: no count
    assert float(aux["stats"]["qmp_selection"].sum()) == 0.0
    _, aux = select_action(state, obs, key, 100)
    assert float(aux["stats"]["qmp_selection"].sum()) == T * E


def test_separate_task_losses_reach_only_that_tasks_policy_and_critic():
    cfg, sac, state = build()
    rng = np.random.default_rng(0)
    f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)  # noqa: E731
    batch = {"obs": f(T, 4, OBS), "action": jnp.tanh(f(T, 4, ACT)), "reward": f(T, 4),
             "next_obs": f(T, 4, OBS), "terminated": jnp.zeros((T, 4), bool),
             "truncated": jnp.zeros((T, 4), bool), "stored": {}}

    def task_loss(actor, critic, i):
        _, info = sac.update(state._replace(actor=actor, critic=critic), batch,
                             jax.random.PRNGKey(1))
        return info["critic_loss"][i] + info["actor_loss"][i]

    task_grads = jax.jit(jax.grad(task_loss, argnums=(0, 1)))
    for i in range(T):
        g_actor, g_critic = task_grads(state.actor, state.critic, i)
        for grads, task_axis in ((g_actor, 0), (g_critic, 1)):       # critic leaves: (2, T, ...)
            norms = sum(jnp.sqrt(jnp.sum(jnp.moveaxis(g, task_axis, 0).reshape(T, -1) ** 2, 1))
                        for g in jax.tree.leaves(grads))
            assert norms[i] > 0
            np.testing.assert_array_equal(np.delete(np.asarray(norms), i), 0.0)


class TaskStampEnv:
    """Obs = [task id, step count, 0...]: shows which task's env a stored transition came from."""

    obs_dim, act_dim, on_device, max_episode_steps = OBS, ACT, True, 10

    def __init__(self, envs_per_task=E):
        self.num_tasks, self.envs_per_task, self.task_names = T, envs_per_task, tuple("abcde")

    def _obs(self, t):
        task = jnp.broadcast_to(jnp.arange(T, dtype=jnp.float32)[:, None], (T, self.envs_per_task))
        pad = jnp.zeros((T, self.envs_per_task, OBS - 2))
        return jnp.concatenate([task[..., None], t[..., None], pad], -1)

    def reset(self, key, goal_index=None):
        t = jnp.zeros((T, self.envs_per_task))
        return t, self._obs(t)

    def step(self, t, action, key):
        t = t + 1
        z = jnp.zeros_like(t)
        return t, StepOut(self._obs(t), self._obs(t), z, z.astype(bool), z.astype(bool),
                          z.astype(bool))


def test_data_for_task_i_is_stored_in_ring_i_and_selection_counts_reach_the_run_folder(
        tmp_path):
    """A real training chunk on an env whose observations carry the task id; its logged
    selection counts give a selection matrix whose rows sum to 1."""
    from mtrl_jax.logging import RunLogger
    cfg = resolve(Config(algo="qmp", env="point-mt", hidden=(8,), qmp_gate="uniform",
                         warmup_steps=2 * T * E, steps_per_call=6, buffer_size=T * 50,
                         batch_size=T * 2))
    env = TaskStampEnv()
    sac = make_agent(cfg, EnvSpec.sized(OBS, ACT, T))
    init, train_chunk = make_train(cfg, env, sac)
    ts, metrics = jax.jit(train_chunk)(init(jax.random.PRNGKey(0)))
    counts = np.asarray(metrics["collect"]["qmp_selection"], np.float64)
    assert counts.sum() == (6 - 2) * T * E                  # steps after the random warm-up
    assert (counts - np.diag(np.diag(counts))).sum() > 0    # other policies did act
    size = np.asarray(ts.buffer.size)
    np.testing.assert_array_equal(size, 6 * E)
    for field in ("obs", "next_obs"):
        stamped = np.asarray(ts.buffer.data[field][:, :6 * E, 0])
        np.testing.assert_array_equal(stamped, np.broadcast_to(np.arange(T)[:, None],
                                                               stamped.shape))

    logger = RunLogger(str(tmp_path), total_steps=1, progress=False)
    for step in (1, 2):                                     # two chunks of the same counts
        logger.log_train(step * 6 * T * E, metrics, seed=0)
    logger.close()
    matrix = qmp.save_selection(str(tmp_path))
    np.testing.assert_allclose(matrix, counts / counts.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(np.load(tmp_path / qmp.SELECTION_FILE), matrix)
    with open(tmp_path / "metrics.jsonl", "w"):             # no QMP counts: a clear error
        pass
    with pytest.raises(ValueError, match="no QMP selection counts"):
        qmp.selection_matrix(str(tmp_path))


@pytest.mark.learning
def test_qmp_learns_point_mt_and_flee_keeps_its_own_policy():
    from learning_utils import train_point_mt
    from mtrl_jax.envs.point_mt import FLEE
    summary = train_point_mt("qmp")
    matrix = np.load(os.path.join(summary["run_dir"], qmp.SELECTION_FILE))  # saved by the run
    np.set_printoptions(precision=3, suppress=True)
    print("QMP selection matrix over training (row: task, column: acting policy)\n", matrix)
    assert summary["mean_success"] >= 0.8, summary["eval_success"]
    assert np.argmax(matrix[FLEE]) == FLEE and matrix[FLEE, FLEE] > 0.5
