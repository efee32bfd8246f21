"""Multi-task SAC: state, per-task losses and the jitted update, for any :class:`Method`.

Everything is a pure function of an explicit :class:`SACState`. One update computes, per task t
(means over the task's rows of the stratified batch, layout ``(T, n, ...)``):

    y            = r + gamma * (1 - terminated) * (min_j Qbar_j(s', a') - alpha_t log pi(a'|s'))
    critic_t     = mean (Q_1(s,a) - y)^2 + mean (Q_2(s,a) - y)^2
    actor_t      = mean alpha_t log pi(a~|s) - min_j Q_j(s, a~)
    alpha_t loss = mean -log_alpha_t (log pi(a~|s) + target_entropy)

With ``critic_loss`` categorical (BRC) each critic outputs logits over a fixed support; its loss
is the cross-entropy against the projection of the target critics' mean next-state distribution
shifted to r + gamma (1 - terminated) (z - alpha_t log pi(a'|s')), and the actor maximises the
two critics' mean expected value (``agents.categorical``).

Truncation is not termination: only ``terminated`` cuts the bootstrap. With ``reward_scaling``
the sampled rewards are multiplied by the state's per-task ``reward_scale`` (set by the training
loop, ``mtrl_jax.train``) before any of this. The tasks are combined as
``mean_t m_t (w_t (critic_t + actor_t) + alpha_t loss)`` where w_t = T softmax(-log_alpha)_t when
``task_weighting`` is on (SM, D2R) and m_t = mask(critic_t + actor_t) is the method's loss mask
(PaCo), both stop-gradient. With ``grad_combiner`` pcgrad or gradnorm, the gradients of the
actor, critic and shared parameters are instead combined from each task's gradient of its own
term (``agents.grad_combiners``), before clipping and Adam; the temperatures never use it.
With ``shared_temperature`` (BRC) the T temperatures stay equal: one temperature trained on the
tasks' summed temperature losses.

As in brax's SAC, actor, critic and temperature losses are evaluated on the parameters at the
start of the step (the actor loss sees the pre-update critic) and differentiated in one pass; the
actor loss reaches neither critic parameters nor, through the critic, the shared parameters.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mtrl_jax.agents import categorical, grad_combiners
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
    combiner: Any             # the gradient combiner's state per parameter group ({} for most)
    reward_scale: jax.Array   # (T,) multiplies the sampled rewards (ones without reward scaling)
    steps: jax.Array          # int32 scalar: updates done


def default_target_entropy(cfg, act_dim: int):
    """``cfg.target_entropy``, or -target_entropy_scale |A| when it is None."""
    if cfg.target_entropy is not None:
        return cfg.target_entropy
    return -cfg.target_entropy_scale * float(act_dim)


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
    """(2, G, n, out_dim) outputs of the twin critics stacked in ``params`` (leading axis 2):
    one ``apply`` per critic, a Python loop.

    The XLA:CPU form. ``vmap`` over the stacked critics (:func:`twin_apply_vmap`) makes XLA fold
    the critic axis into the weights' non-contracted dimension, which costs transposed copies of
    every weight (and, for PaCo, of the composed weights). benchmarks/layouts.py on the 2-core
    CPU, vmap / loop: 1.40 for PaCo's MT10 twin critics forward + backward, 1.27-1.33 for the
    whole MT10 PaCo update."""
    keys = [None, None] if rng is None else list(jax.random.split(rng, 2))
    return jnp.stack([critic.apply(jax.tree.map(lambda a: a[i], params), x, onehot, keys[i],
                                   extra)[0] for i in range(2)])


def twin_apply_vmap(critic: Network, params, x, onehot, rng, extra) -> jax.Array:
    """:func:`twin_apply_loop` as one ``vmap`` over the critic axis (the plain form, for the
    comparison on other backends)."""
    keys = None if rng is None else jax.random.split(rng, 2)
    apply = lambda p, k: critic.apply(p, x, onehot, k, extra)[0]  # noqa: E731
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


def make_optimizer(lr: float, grad_clip: float | None, weight_decay=0.0,
                   b1=0.9) -> optax.GradientTransformation:
    """Adam (AdamW with a non-zero ``weight_decay``), after global-norm clipping if given. A
    sweep may trace ``weight_decay``: a traced value always takes AdamW."""
    plain = isinstance(weight_decay, (int, float)) and weight_decay == 0
    adam = (optax.adam(lr, b1=b1) if plain
            else optax.adamw(lr, b1=b1, weight_decay=weight_decay))
    return adam if grad_clip is None else optax.chain(optax.clip_by_global_norm(grad_clip), adam)


def make_sac(networks: Networks, cfg, num_tasks: int, act_dim: int,
             hooks: SACHooks = SACHooks()) -> SAC:
    """Build the SAC functions from a resolved Config (the SAC and recipe fields)."""
    actor, critic = networks.actor, networks.critic
    target_entropy = default_target_entropy(cfg, act_dim)
    net_opt = make_optimizer(cfg.lr, cfg.grad_clip, cfg.weight_decay)
    alpha_opt = make_optimizer(cfg.alpha_lr, None, b1=cfg.alpha_b1)
    T = num_tasks
    is_categorical = cfg.critic_loss == "categorical"
    atoms = categorical.support(cfg.critic_bins, cfg.v_max) if is_categorical else None

    def init(key):
        k_actor, k_critic, k_shared = jax.random.split(key, 3)
        actor_params = actor.init(k_actor)
        critic_params = jax.vmap(critic.init)(jax.random.split(k_critic, 2))
        shared = {} if networks.shared is None else networks.shared.init(k_shared)
        log_alpha = jnp.full((T,), jnp.log(cfg.init_alpha), jnp.float32)
        # The target starts as a copy, not an alias, so that the state can be donated.
        target = jax.tree.map(jnp.copy, critic_params)
        groups = {"actor": actor_params, "critic": critic_params, "shared": shared}
        combiner = ({name: grad_combiners.gradnorm_init(T, cfg.gradnorm_lr)
                     for name, tree in groups.items() if jax.tree.leaves(tree)}
                    if cfg.grad_combiner == "gradnorm" else {})
        return SACState(actor_params, critic_params, target, shared, log_alpha,
                        net_opt.init(actor_params), net_opt.init(critic_params),
                        net_opt.init(shared), alpha_opt.init(log_alpha), combiner,
                        jnp.ones((T,), jnp.float32), jnp.zeros((), jnp.int32))

    def extra_for(mode, shared, log_alpha, onehot, stored=None):
        return network_extra(networks, mode, shared, log_alpha, onehot, stored)

    def twin_out(critic_params, obs, action, onehot, rng, extra):
        """(2, G, n, out_dim) outputs of both critics: Q values, or the categorical critic's
        logits over ``atoms``."""
        x = jnp.concatenate([obs, action], axis=-1)
        return twin_apply_loop(critic, critic_params, x, onehot, rng, extra)

    def twin_q(critic_params, obs, action, onehot, rng, extra):
        """(2, G, n) Q values of both critics (the categorical critic's expected values)."""
        out = twin_out(critic_params, obs, action, onehot, rng, extra)
        return categorical.expected_value(out, atoms) if is_categorical else out[..., 0]

    def reduce_critics(q):
        """(2, ...) -> (...): the min of the twin critics; the mean for the categorical critic
        (BRC's ensemble mean)."""
        return q.mean(axis=0) if is_categorical else q.min(axis=0)

    def sample_action(actor_params, shared, log_alpha, obs, onehot, key, mode, stored=None):
        """Sampled action (G, n, A), its log-prob (G, n) and the network's aux."""
        k_net, k_sample = jax.random.split(key)
        out, aux = actor.apply(actor_params, obs, onehot, k_net,
                               extra_for(mode, shared, log_alpha, onehot, stored))
        mean, log_std = split_gaussian(out, cfg.log_std_min, cfg.log_std_max)
        action, logp = sample_tanh_gaussian(k_sample, mean, log_std)
        return action, logp, aux

    def task_terms(params, target_critic, batch, onehot, group_log_alpha, key):
        """Per-group losses and metrics (each (G,)) on task-grouped rows ``onehot`` (G, n, T);
        ``group_log_alpha`` (G,) are the groups' log temperatures."""
        actor_p, critic_p, shared, log_alpha = params
        alpha = jnp.exp(jax.lax.stop_gradient(group_log_alpha))[:, None]      # (G, 1)
        k_next, k_q, k_pi = jax.random.split(key, 3)
        sg = jax.lax.stop_gradient

        # Bootstrap target from the target critics; gradients stop here.
        next_a, next_logp, _ = sample_action(sg(actor_p), sg(shared), log_alpha,
                                             batch["next_obs"], onehot, k_next, "target")
        target_extra = extra_for("target", sg(shared), log_alpha, onehot)
        update_extra = extra_for("update", shared, log_alpha, onehot)
        not_done = 1.0 - batch["terminated"].astype(jnp.float32)
        if is_categorical:
            next_probs = jax.nn.softmax(twin_out(target_critic, batch["next_obs"], next_a,
                                                 onehot, None, target_extra), axis=-1).mean(0)
            target_probs = sg(categorical.target_distribution(
                next_probs, batch["reward"], cfg.gamma * not_done, alpha * next_logp, atoms,
                cfg.v_max))                                                     # (G, n, B)
            logits = twin_out(critic_p, batch["obs"], batch["action"], onehot, k_q,
                              update_extra)                                     # (2, G, n, B)
            critic_task = jnp.mean(categorical.cross_entropy(logits, target_probs[None]),
                                   axis=2).sum(axis=0)                          # (G,)
            q = categorical.expected_value(logits, atoms)
        else:
            target_q = twin_q(target_critic, batch["next_obs"], next_a, onehot, None,
                              target_extra).min(axis=0)
            y = sg(batch["reward"] + cfg.gamma * not_done * (target_q - alpha * next_logp))
            q = twin_q(critic_p, batch["obs"], batch["action"], onehot, k_q,
                       update_extra)                                            # (2, G, n)
            critic_task = jnp.mean((q - y[None]) ** 2, axis=2).sum(axis=0)      # (G,)

        pi_a, logp, actor_aux = sample_action(actor_p, shared, log_alpha, batch["obs"], onehot,
                                              k_pi, "update", batch.get("stored"))
        q_pi = reduce_critics(twin_q(sg(critic_p), batch["obs"], pi_a, onehot, None,
                                     extra_for("update", sg(shared), log_alpha, onehot)))
        actor_task = jnp.mean(alpha * logp - q_pi, axis=1)
        alpha_task = jnp.mean(-group_log_alpha[:, None] * sg(logp + target_entropy), axis=1)
        info = {"critic_loss": critic_task, "actor_loss": actor_task, "alpha_loss": alpha_task,
                "entropy": -jnp.mean(logp, axis=1), "q": jnp.mean(q, axis=(0, 2))}
        return critic_task, actor_task, alpha_task, info

    def task_mask_and_weights(task_loss, log_alpha):
        """(mask, weights) of the tasks' losses, both stop-gradient."""
        mask = (jnp.ones(task_loss.shape) if hooks.task_loss_mask is None
                else jax.lax.stop_gradient(hooks.task_loss_mask(task_loss)))
        weights = (jax.lax.stop_gradient(T * jax.nn.softmax(-log_alpha)) if cfg.task_weighting
                   else jnp.ones((T,)))
        return mask, weights

    def loss_fn(params, state, batch, key):
        n = batch["reward"].shape[1]
        critic_task, actor_task, alpha_task, info = task_terms(
            params, state.target_critic, batch, task_onehots(T, n), params[3], key)
        # J_t = actor + critic loss: the quantity PaCo's mask-out compares with epsilon (PaCo
        # paper, Algorithm 1; DESIGN.md section 5 also adds the temperature loss).
        task_loss = jax.lax.stop_gradient(critic_task + actor_task)
        mask, weights = task_mask_and_weights(task_loss, params[3])
        total = jnp.mean(mask * (weights * (critic_task + actor_task) + alpha_task))
        return total, {**info, "task_loss": task_loss, "task_mask": mask,
                       "task_weight": weights, "total_loss": total}

    def per_task_grads(params, state, batch, key):
        """Each task's gradient of its own term of the total loss, a ``vmap`` over the task
        groups of the batch: leaves ``(T, ...)``; and the (T,) metrics of ``loss_fn``.

        A task's losses read only its own rows, so this costs about one backward pass (the
        parameter gradients are per task). The method's ``task_loss_mask`` is applied to each
        task alone, which needs it elementwise (PaCo's is)."""
        n = batch["reward"].shape[1]
        onehot = task_onehots(T, n)[:, None]                                   # (T, 1, n, T)
        _, weights = task_mask_and_weights(jnp.zeros((T,)), params[3])

        def task_loss_of(p, rows, onehot_t, t, k):
            critic_t, actor_t, alpha_t, info = task_terms(p, state.target_critic, rows,
                                                          onehot_t, p[3][t][None], k)
            loss_t = jax.lax.stop_gradient(critic_t + actor_t)
            mask_t, _ = task_mask_and_weights(loss_t, p[3])
            total = jnp.sum(mask_t * (weights[t] * (critic_t + actor_t) + alpha_t))
            return total, {**info, "task_loss": loss_t, "task_mask": mask_t, "total": total}

        rows = jax.tree.map(lambda x: x[:, None], batch)
        grads, info = jax.vmap(jax.grad(task_loss_of, has_aux=True), in_axes=(None, 0, 0, 0, 0))(
            params, rows, onehot, jnp.arange(T), jax.random.split(key, T))
        total = jnp.mean(info.pop("total"))
        info = jax.tree.map(lambda x: x[:, 0], info)
        return grads, {**info, "task_weight": weights, "total_loss": total}

    def combined_grads(params, state, batch, key):
        """The gradient of ``loss_fn`` with the actor, critic and shared parts combined from
        per-task gradients by ``cfg.grad_combiner`` (the temperature's is the plain mean);
        returns (grads, info, next combiner state)."""
        k_tasks, k_order = jax.random.split(key)
        task_grads, info = per_task_grads(params, state, batch, k_tasks)
        g_actor, g_critic, g_shared, g_alpha = task_grads
        groups = {"actor": g_actor, "critic": g_critic, "shared": g_shared}
        losses = {"actor": info["actor_loss"], "critic": info["critic_loss"],
                  "shared": info["actor_loss"] + info["critic_loss"]}
        combiner, out = dict(state.combiner), {}
        for i, (name, grads) in enumerate(groups.items()):
            if not jax.tree.leaves(grads):
                out[name] = jax.tree.map(lambda g: g.sum(0), grads)
            elif cfg.grad_combiner == "pcgrad":
                out[name] = grad_combiners.pcgrad(grads, jax.random.fold_in(k_order, i))
            else:
                out[name], combiner[name] = grad_combiners.gradnorm(
                    state.combiner[name], losses[name], grads, cfg.gradnorm_alpha,
                    cfg.gradnorm_lr)
                info[f"gradnorm_weight_{name}"] = state.combiner[name].weights
        grads = (out["actor"], out["critic"], out["shared"], g_alpha.mean(0))
        return grads, info, combiner

    def update(state: SACState, batch: dict, key: jax.Array):
        """One SAC step on a stratified batch (T, n, ...). Returns (state, per-task metrics)."""
        k_loss, k_post = jax.random.split(key)
        if cfg.reward_scaling != "none":
            batch = {**batch, "reward": batch["reward"] * state.reward_scale[:, None]}
        params = (state.actor, state.critic, state.shared, state.log_alpha)
        if cfg.grad_combiner == "none":
            grads, info = jax.grad(loss_fn, has_aux=True)(params, state, batch, k_loss)
            combiner = state.combiner
        else:
            grads, info, combiner = combined_grads(params, state, batch, k_loss)
        g_actor, g_critic, g_shared, g_alpha = grads
        upd, actor_opt = net_opt.update(g_actor, state.actor_opt, state.actor)
        actor_p = optax.apply_updates(state.actor, upd)
        upd, critic_opt = net_opt.update(g_critic, state.critic_opt, state.critic)
        critic_p = optax.apply_updates(state.critic, upd)
        upd, shared_opt = net_opt.update(g_shared, state.shared_opt, state.shared)
        shared = optax.apply_updates(state.shared, upd)
        if cfg.shared_temperature:
            # One temperature: the T equal entries move by the gradient of their sum.
            g_alpha = jnp.broadcast_to(g_alpha.sum(), g_alpha.shape)
        upd, alpha_opt_state = alpha_opt.update(g_alpha, state.alpha_opt, state.log_alpha)
        log_alpha = optax.apply_updates(state.log_alpha, upd)
        target = jax.tree.map(lambda t, c: (1.0 - cfg.tau) * t + cfg.tau * c,
                              state.target_critic, critic_p)
        new_state = SACState(actor_p, critic_p, target, shared, log_alpha, actor_opt, critic_opt,
                             shared_opt, alpha_opt_state, combiner, state.reward_scale,
                             state.steps + 1)
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
        """(G, n): the min over the twin critics (the categorical critics' mean), as the actor
        loss reduces them."""
        return reduce_critics(twin_q(state.critic, obs, action, onehot, None,
                                     extra_for("eval", state.shared, state.log_alpha, onehot)))

    return SAC(init, update, explore, eval_action, sample_action, q_values, T, act_dim,
               networks, hooks)
