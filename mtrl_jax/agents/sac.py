"""Multi-task SAC: state, per-task losses and the jitted update, for any :class:`Method`.

Everything is a pure function of an explicit :class:`SACState`. One update computes, per task t
(means over the task's rows of the stratified batch, layout ``(T, n, ...)``):

    y            = r + gamma * (1 - terminated) * (min_j Qbar_j(s', a') - alpha_t log pi(a'|s'))
    critic_t     = mean (Q_1(s,a) - y)^2 + mean (Q_2(s,a) - y)^2
    actor_t      = mean alpha_t log pi(a~|s) - min_j Q_j(s, a~)
    alpha_t loss = mean -log_alpha_t (log pi(a~|s) + target_entropy)

Truncation is not termination: only ``terminated`` cuts the bootstrap. The tasks are combined as
``mean_t m_t (w_t (critic_t + actor_t) + alpha_t loss)`` where w_t = T softmax(-log_alpha)_t when
``task_weighting`` is on (SM, D2R) and m_t = mask(critic_t + actor_t) is the method's loss mask
(PaCo), both stop-gradient.

As in brax's SAC, actor, critic and temperature losses are evaluated on the parameters at the
start of the step (the actor loss sees the pre-update critic) and differentiated in one pass; the
actor loss reaches neither critic parameters nor, through the critic, the shared parameters.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtrl_jax.nets.base import Network, Networks
from mtrl_jax.nets.policy import deterministic_action, sample_tanh_gaussian, split_gaussian

Params = Any


class SACState(NamedTuple):
    actor: Params
    critic: Params            # twin critics stacked on a leading axis of 2
    target_critic: Params
    shared: Params            # parameters shared by actor and critics ({} for most methods)
    log_alpha: jax.Array      # (T,)
    actor_opt: Any
    critic_opt: Any
    shared_opt: Any
    alpha_opt: Any
    steps: jax.Array          # int32 scalar: updates done


class SAC(NamedTuple):
    """The pure functions of multi-task SAC for one method and config (all jittable)."""

    init: Callable[[jax.Array], SACState]
    update: Callable[..., tuple[SACState, dict]]
    explore: Callable[..., tuple[jax.Array, dict]]
    eval_action: Callable[..., jax.Array]
    sample_action: Callable[..., tuple[jax.Array, jax.Array, dict]]
    q_values: Callable[..., jax.Array]
    num_tasks: int
    act_dim: int
    networks: Networks
    hooks: "SACHooks"


class SACHooks(NamedTuple):
    """Where a method changes the SAC algorithm rather than the networks (all optional).

    task_loss_mask(task_losses (T,)) -> (T,) multiplicative mask of each task's total loss
    (stop-gradient is applied by the core; PaCo's mask-out).
    post_update(sac_state, info, key) -> sac_state, applied after each update, where info holds
    ``task_loss`` (T,) and ``task_mask`` (T,) (PaCo's w-reset).
    make_collect(sac) -> collect function replacing each task's own-policy exploration (QMP's
    mixture); see ``mtrl_jax.train`` for its signature.
    on_run_end(run_dir) -> None, called when a run has written its folder (QMP saves its
    selection matrix).
    """

    task_loss_mask: Callable[[jax.Array], jax.Array] | None = None
    post_update: Callable[..., Any] | None = None
    make_collect: Callable[..., Any] | None = None
    on_run_end: Callable[[str], Any] | None = None


def twin_apply_loop(critic: Network, params, x, onehot, rng, extra) -> jax.Array:
    """(2, G, n) outputs of the twin critics stacked in ``params`` (leading axis 2): one
    ``apply`` per critic, a Python loop.

    The XLA:CPU form. ``vmap`` over the stacked critics (:func:`twin_apply_vmap`) makes XLA fold
    the critic axis into the weights' non-contracted dimension, which costs transposed copies of
    every weight (and, for PaCo, of the composed weights). benchmarks/layouts.py on the 2-core
    CPU, vmap / loop: 1.40 for PaCo's MT10 twin critics forward + backward, 1.27-1.33 for the
    whole MT10 PaCo update."""
    keys = [None, None] if rng is None else list(jax.random.split(rng, 2))
    return jnp.stack([critic.apply(jax.tree.map(lambda a: a[i], params), x, onehot, keys[i],
                                   extra)[0][..., 0] for i in range(2)])


def twin_apply_vmap(critic: Network, params, x, onehot, rng, extra) -> jax.Array:
    """:func:`twin_apply_loop` as one ``vmap`` over the critic axis (the plain form, for the
    comparison on other backends)."""
    keys = None if rng is None else jax.random.split(rng, 2)
    apply = lambda p, k: critic.apply(p, x, onehot, k, extra)[0][..., 0]  # noqa: E731
    return jax.vmap(apply, in_axes=(0, None if keys is None else 0))(params, keys)


def network_extra(networks: Networks, mode: str, shared, log_alpha: jax.Array,
                  onehot: jax.Array, stored: dict | None = None) -> dict:
    """The ``extra`` of a network call (``nets.base``) on task-grouped rows ``onehot``
    (G, n, T): ``shared`` holds the shared module's parameters, the networks get its output."""
    shared_out = {} if networks.shared is None else networks.shared.apply(shared, onehot[:, 0])
    return {"mode": mode, "shared": shared_out, "log_alpha": jax.lax.stop_gradient(log_alpha),
            "stored": {} if stored is None else stored}


def task_onehots(num_tasks: int, n: int) -> jax.Array:
    """(T, n, T) one-hot task ids of the task-grouped layout."""
    return jnp.broadcast_to(jnp.eye(num_tasks)[:, None, :], (num_tasks, n, num_tasks))


def make_optimizer(lr: float, grad_clip: float | None) -> optax.GradientTransformation:
    adam = optax.adam(lr)
    return adam if grad_clip is None else optax.chain(optax.clip_by_global_norm(grad_clip), adam)


def make_sac(networks: Networks, cfg, num_tasks: int, act_dim: int,
             hooks: SACHooks = SACHooks()) -> SAC:
    """Build the SAC functions. ``cfg`` needs lr, alpha_lr, gamma, tau, init_alpha,
    target_entropy, grad_clip, task_weighting, log_std_min, log_std_max (a resolved Config)."""
    actor, critic = networks.actor, networks.critic
    target_entropy = -float(act_dim) if cfg.target_entropy is None else cfg.target_entropy
    net_opt = make_optimizer(cfg.lr, cfg.grad_clip)
    alpha_opt = make_optimizer(cfg.alpha_lr, None)
    T = num_tasks

    def init(key):
        k_actor, k_critic, k_shared = jax.random.split(key, 3)
        actor_params = actor.init(k_actor)
        critic_params = jax.vmap(critic.init)(jax.random.split(k_critic, 2))
        shared = {} if networks.shared is None else networks.shared.init(k_shared)
        log_alpha = jnp.full((T,), jnp.log(cfg.init_alpha), jnp.float32)
        # The target starts as a copy, not an alias, so that the state can be donated.
        target = jax.tree.map(jnp.copy, critic_params)
        return SACState(actor_params, critic_params, target, shared, log_alpha,
                        net_opt.init(actor_params), net_opt.init(critic_params),
                        net_opt.init(shared), alpha_opt.init(log_alpha), jnp.zeros((), jnp.int32))

    def extra_for(mode, shared, log_alpha, onehot, stored=None):
        return network_extra(networks, mode, shared, log_alpha, onehot, stored)

    def twin_q(critic_params, obs, action, onehot, rng, extra):
        """(2, G, n) Q values of both critics."""
        x = jnp.concatenate([obs, action], axis=-1)
        return twin_apply_loop(critic, critic_params, x, onehot, rng, extra)

    def sample_action(actor_params, shared, log_alpha, obs, onehot, key, mode, stored=None):
        """Sampled action (G, n, A), its log-prob (G, n) and the network's aux."""
        k_net, k_sample = jax.random.split(key)
        out, aux = actor.apply(actor_params, obs, onehot, k_net,
                               extra_for(mode, shared, log_alpha, onehot, stored))
        mean, log_std = split_gaussian(out, cfg.log_std_min, cfg.log_std_max)
        action, logp = sample_tanh_gaussian(k_sample, mean, log_std)
        return action, logp, aux

    def loss_fn(params, state, batch, key):
        actor_p, critic_p, shared, log_alpha = params
        n = batch["reward"].shape[1]
        onehot = task_onehots(T, n)
        alpha = jnp.exp(jax.lax.stop_gradient(log_alpha))[:, None]            # (T, 1)
        k_next, k_q, k_pi = jax.random.split(key, 3)
        sg = jax.lax.stop_gradient

        # Bootstrap target from the target critics; gradients stop here.
        next_a, next_logp, _ = sample_action(sg(actor_p), sg(shared), log_alpha,
                                             batch["next_obs"], onehot, k_next, "target")
        target_q = twin_q(state.target_critic, batch["next_obs"], next_a, onehot, None,
                          extra_for("target", sg(shared), log_alpha, onehot)).min(axis=0)
        not_done = 1.0 - batch["terminated"].astype(jnp.float32)
        y = sg(batch["reward"] + cfg.gamma * not_done * (target_q - alpha * next_logp))

        q = twin_q(critic_p, batch["obs"], batch["action"], onehot, k_q,
                   extra_for("update", shared, log_alpha, onehot))                     # (2, T, n)
        critic_task = jnp.mean((q - y[None]) ** 2, axis=2).sum(axis=0)          # (T,)

        pi_a, logp, actor_aux = sample_action(actor_p, shared, log_alpha, batch["obs"], onehot,
                                              k_pi, "update", batch.get("stored"))
        q_pi = twin_q(sg(critic_p), batch["obs"], pi_a, onehot, None,
                      extra_for("update", sg(shared), log_alpha, onehot)).min(axis=0)
        actor_task = jnp.mean(alpha * logp - q_pi, axis=1)
        alpha_task = jnp.mean(-log_alpha[:, None] * sg(logp + target_entropy), axis=1)

        # J_t = actor + critic loss: the quantity PaCo's mask-out compares with epsilon (PaCo
        # paper, Algorithm 1; DESIGN.md section 5 also adds the temperature loss).
        task_loss = sg(critic_task + actor_task)
        mask = (jnp.ones((T,)) if hooks.task_loss_mask is None
                else sg(hooks.task_loss_mask(task_loss)))
        weights = (sg(T * jax.nn.softmax(-log_alpha)) if cfg.task_weighting
                   else jnp.ones((T,)))
        total = jnp.mean(mask * (weights * (critic_task + actor_task) + alpha_task))
        info = {"critic_loss": critic_task, "actor_loss": actor_task, "alpha_loss": alpha_task,
                "task_loss": task_loss, "task_mask": mask, "task_weight": weights,
                "entropy": -jnp.mean(logp, axis=1), "q": jnp.mean(q, axis=(0, 2)),
                "total_loss": total}
        return total, info

    def update(state: SACState, batch: dict, key: jax.Array):
        """One SAC step on a stratified batch (T, n, ...). Returns (state, per-task metrics)."""
        k_loss, k_post = jax.random.split(key)
        params = (state.actor, state.critic, state.shared, state.log_alpha)
        grads, info = jax.grad(loss_fn, has_aux=True)(params, state, batch, k_loss)
        g_actor, g_critic, g_shared, g_alpha = grads
        upd, actor_opt = net_opt.update(g_actor, state.actor_opt, state.actor)
        actor_p = optax.apply_updates(state.actor, upd)
        upd, critic_opt = net_opt.update(g_critic, state.critic_opt, state.critic)
        critic_p = optax.apply_updates(state.critic, upd)
        upd, shared_opt = net_opt.update(g_shared, state.shared_opt, state.shared)
        shared = optax.apply_updates(state.shared, upd)
        upd, alpha_opt_state = alpha_opt.update(g_alpha, state.alpha_opt, state.log_alpha)
        log_alpha = optax.apply_updates(state.log_alpha, upd)
        target = jax.tree.map(lambda t, c: (1.0 - cfg.tau) * t + cfg.tau * c,
                              state.target_critic, critic_p)
        new_state = SACState(actor_p, critic_p, target, shared, log_alpha, actor_opt, critic_opt,
                             shared_opt, alpha_opt_state, state.steps + 1)
        if hooks.post_update is not None:
            new_state = hooks.post_update(new_state, info, k_post)
        info["alpha"] = jnp.exp(new_state.log_alpha)
        return new_state, info

    def explore(state: SACState, obs, onehot, key):
        """Exploration action (G, n, A) with the network's aux (aux["store"] is kept)."""
        action, _, aux = sample_action(state.actor, state.shared, state.log_alpha, obs, onehot,
                                       key, "act")
        return action, aux

    def eval_action(state: SACState, obs, onehot):
        """Deterministic evaluation action tanh(mean)."""
        out, _ = actor.apply(state.actor, obs, onehot, None,
                             extra_for("eval", state.shared, state.log_alpha, onehot))
        mean, _ = split_gaussian(out, cfg.log_std_min, cfg.log_std_max)
        return deterministic_action(mean)

    def q_values(state: SACState, obs, action, onehot):
        """min over the twin critics, (G, n)."""
        return twin_q(state.critic, obs, action, onehot, None,
                      extra_for("eval", state.shared, state.log_alpha, onehot)).min(axis=0)

    return SAC(init, update, explore, eval_action, sample_action, q_values, T, act_dim,
               networks, hooks)
