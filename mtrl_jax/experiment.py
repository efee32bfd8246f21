"""One training run end to end: config -> env -> method -> loop -> evaluation, logs, checkpoints.

``run(cfg)`` is what ``experiments/run.py`` calls. Device environments train all seeds of
``cfg.seeds`` in one vmapped, jitted program; CPU Meta-World is driven from Python with jitted
action selection, buffer writes and updates.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from mtrl_jax import checkpoint
from mtrl_jax.agents.sac import make_sac, task_onehots
from mtrl_jax.buffer import buffer_bytes, buffer_init, free_memory_bytes
from mtrl_jax.config import (DEVICE_ENVS, RESUMABLE_CHANGES, Config, ConfigError, resolve,
                             validate)
from mtrl_jax.envs import check_env, make_env
from mtrl_jax.host_loop import HostCarry, host_step, make_host_pieces
from mtrl_jax.logging import RunLogger, import_wandb, success_table
from mtrl_jax.nets import make_method
from mtrl_jax.xla_cache import enable_compile_cache
from mtrl_jax.train import (TrainState, empty_stats, make_device_evaluate, make_train,
                            reset_counts, transition_example)

class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf; the last good checkpoint is kept."""


def crossed(before: int, after: int, every: int) -> bool:
    return every > 0 and before // every != after // every


def prepare_run_dir(cfg: Config) -> tuple[Config, str, bool]:
    """(resolved config, run folder, resuming). Nothing is written before all checks pass."""
    if cfg.resume:
        run_dir = cfg.resume
        saved_path = os.path.join(run_dir, "config.json")
        if not os.path.exists(saved_path):
            raise ConfigError(f"--resume {run_dir}: no config.json there; pass the folder of a run "
                              "started by experiments/run.py")
        with open(saved_path) as f:
            saved = Config(**{k: tuple(v) if isinstance(v, list) else v
                              for k, v in json.load(f).items()})
        overrides = {k: getattr(cfg, k) for k in RESUMABLE_CHANGES
                     if getattr(cfg, k) is not None and k != "out_dir"}
        resumed = resolve(saved.replace(**overrides))
        if checkpoint.latest_step(run_dir) is None:
            print(f"--resume {run_dir}: no complete checkpoint there (the run stopped before its "
                  "first one); starting it again from scratch", file=sys.stderr, flush=True)
            return resumed, run_dir, False
        return resumed, run_dir, True
    cfg = resolve(cfg)
    seeds = cfg.seeds or (cfg.seed,)
    name = cfg.run_name or f"{cfg.algo}-{cfg.env}-s{'_'.join(map(str, seeds))}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = os.path.join(cfg.out_dir, name)
    if os.path.exists(os.path.join(run_dir, "config.json")):
        raise ConfigError(f"run folder {run_dir} already holds a run: continue it with --resume "
                          f"{run_dir} or choose another --run-name")
    return cfg, run_dir, False


def clear_run_folder(run_dir: str) -> None:
    """Remove what a run that never completed a checkpoint left (logs, partial checkpoints)."""
    import shutil
    for name in os.listdir(run_dir):
        path = os.path.join(run_dir, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def check_memory(cfg: Config, env, sac, n_seeds: int) -> None:
    """Compare the replay buffers' size with the free memory of the device that holds them."""
    example = transition_example(env.obs_dim, env.act_dim, sac.method.store_spec)
    need = buffer_bytes(example, cfg.buffer_size) * n_seeds
    free = free_memory_bytes()
    if free is not None and need > free:
        raise ConfigError(
            f"the replay buffer needs {need / 2**30:.1f} GiB ({n_seeds} x --buffer-size "
            f"{cfg.buffer_size:,}) and {jax.devices()[0].platform} has {free / 2**30:.1f} GiB "
            "free: lower --buffer-size or run fewer --seeds")


def write_config(cfg: Config, run_dir: str) -> None:
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)


def write_summary(run_dir: str, summary: dict) -> None:
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


def eval_key(seed: int, env_steps: int) -> jax.Array:
    """The evaluation key of ``seed`` at ``env_steps``: independent of the training keys, so
    evaluating (or not) never changes training."""
    return jax.random.fold_in(jax.random.PRNGKey(seed + 1_000_003), env_steps)


def check_finite(metrics: dict, env_steps: int) -> None:
    loss = np.asarray(metrics["total_loss"])
    if not np.all(np.isfinite(loss)):
        raise TrainingDiverged(
            f"loss became {loss.tolist()} at {env_steps} env steps; stopped without saving, the "
            "last good checkpoint is intact (lower --lr or set --grad-clip, then --resume)")


class EarlyStop:
    """Stops a run once two evaluations in a row reach ``cfg.early_stop_success`` on every
    seed, from ``cfg.early_stop_min_steps`` transitions on (off when the threshold is None)."""

    def __init__(self, cfg: Config):
        self.threshold, self.min_steps = cfg.early_stop_success, cfg.early_stop_min_steps
        self.previous_ok = False

    def _ok(self, per_seed_mean) -> bool:
        return bool(np.all(np.asarray(per_seed_mean) >= self.threshold))

    def __call__(self, env_steps: int, success: np.ndarray) -> bool:
        """``success`` (S, T) of an evaluation at ``env_steps``: stop now?"""
        if self.threshold is None:
            return False
        ok = self._ok(np.atleast_2d(success).mean(axis=-1))
        stop = ok and self.previous_ok and env_steps >= self.min_steps
        self.previous_ok = ok
        return stop

    def resume(self, run_dir: str) -> "EarlyStop":
        """Continue the count from the last evaluation in the run folder's eval.jsonl."""
        path = os.path.join(run_dir, "eval.jsonl")
        if self.threshold is not None and os.path.exists(path):
            with open(path) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            if rows:
                last = max(r["env_steps"] for r in rows)
                self.previous_ok = self._ok([r["eval_success"] for r in rows
                                             if r["env_steps"] == last])
        return self


def run(cfg: Config) -> dict:
    """Train, evaluate and log one run; returns a summary dict (also saved as summary.json)."""
    cfg, run_dir, resuming = prepare_run_dir(cfg)
    enable_compile_cache(cfg.compile_cache)
    seeds = tuple(cfg.seeds or (cfg.seed,))
    if len(seeds) > 1 and cfg.env not in DEVICE_ENVS:
        raise ConfigError(f"--seeds needs a device env ({', '.join(DEVICE_ENVS)}); --env {cfg.env} "
                          "steps on the host: run one process per seed (experiments/sweep.py)")
    check_env(cfg)
    if cfg.progress:
        print(f"{cfg.algo} on {cfg.env}: building the environment", file=sys.stderr, flush=True)
    env = make_env(cfg, seed=seeds[0])
    logger = None
    try:
        validate(cfg, env.num_tasks)  # these raise before anything is written
        method = make_method(cfg, env.obs_dim, env.act_dim, env.num_tasks)
        sac = make_sac(method, cfg, env.num_tasks, env.act_dim)
        check_memory(cfg, env, sac, len(seeds))
        if cfg.wandb:
            import_wandb()
        if cfg.resume and not resuming:  # a run that never completed a checkpoint starts over
            clear_run_folder(run_dir)
            cfg = cfg.replace(resume=None)
        os.makedirs(run_dir, exist_ok=True)
        logger = RunLogger(run_dir, cfg.total_steps, 0, cfg.progress, cfg.progress_every,
                           wandb_project=cfg.wandb, config=dataclasses.asdict(cfg))
        if not resuming:
            write_config(cfg, run_dir)
        loop = train_on_device if env.on_device else train_on_host
        summary = loop(cfg, env, sac, seeds, run_dir, resuming, logger)
    finally:
        if logger is not None:
            logger.close()
        if hasattr(env, "close"):
            env.close()
    write_summary(run_dir, summary)
    if method.on_run_end is not None:
        method.on_run_end(run_dir)
    return summary


def _restore(run_dir: str, target):
    try:
        return checkpoint.restore(run_dir, target)
    except Exception as err:  # orbax raises several types for a mismatched tree
        raise ConfigError(f"--resume {run_dir}: its checkpoint does not fit this run's state "
                          f"({type(err).__name__}); it was written by another config or version. "
                          "Start a new run instead.") from err


def finish_run(logger, cfg, run_dir, env, seeds, success, env_steps, wall):
    """Print and save the final per-task success table; the run's summary dict."""
    table = success_table(env.task_names, success)
    logger.write(f"\nevaluation at {env_steps} env steps\n{table}")
    with open(os.path.join(run_dir, "eval_table.md"), "w") as f:
        f.write(table + "\n")
    return {"run_dir": run_dir, "env_steps": env_steps, "seeds": list(seeds),
            "task_names": list(env.task_names), "eval_success": np.asarray(success).tolist(),
            "mean_success": float(np.mean(success)), "wall_s": wall}


def record_eval(logger, cfg, env, seeds, stop: EarlyStop, env_steps: int, success) -> bool:
    """Log an evaluation (S, T); True when the early stop ends the run here."""
    logger.log_eval(env_steps, env.task_names, success, seeds)
    if stop(env_steps, success):
        logger.write(f"early stop at {env_steps} env steps: two evaluations in a row "
                     f">= {cfg.early_stop_success}")
        return True
    return False


def phase_name(env_steps: int, cfg: Config) -> str:
    return "warm-up (random actions)" if env_steps < cfg.warmup_steps else "training"


def train_on_device(cfg, env, sac, seeds, run_dir, resuming, logger) -> dict:
    init, train_chunk = make_train(cfg, env, sac)
    evaluate = jax.jit(jax.vmap(make_device_evaluate(cfg, env, sac)))
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    logger.phase("compiling the reset")
    state = jax.jit(jax.vmap(init))(keys)
    chunk = jax.jit(jax.vmap(train_chunk), donate_argnums=0)
    if resuming:
        state = _restore(run_dir, state)
    env_steps = int(state.env_steps[0])
    if resuming:
        logger.truncate_after(env_steps)
    logger.begin(env_steps)
    eval_keys = lambda step: jnp.stack([eval_key(s, step) for s in seeds])  # noqa: E731
    start, updates, success, evaluated_at = time.perf_counter(), 0, None, None
    stop = EarlyStop(cfg).resume(run_dir) if resuming else EarlyStop(cfg)
    compiled = False
    while env_steps < cfg.total_steps:
        before = env_steps
        logger.phase(phase_name(env_steps, cfg) if compiled else
                     f"compiling the training step, then {phase_name(env_steps, cfg)}")
        state, metrics = chunk(state)
        compiled = True
        env_steps = int(state.env_steps[0])
        check_finite(metrics, env_steps)
        updates += int(metrics["updates"][0])
        for i, seed in enumerate(seeds):
            logger.log_train(env_steps, jax.tree.map(lambda x: x[i], metrics), seed)
        logger.tick(env_steps, updates, float(np.mean(metrics["train_success"])))
        if crossed(before, env_steps, cfg.eval_every) and env_steps < cfg.total_steps:
            logger.phase("evaluating")
            success = np.asarray(evaluate(state.sac, eval_keys(env_steps)))
            evaluated_at = env_steps
            if record_eval(logger, cfg, env, seeds, stop, env_steps, success):
                break
        if crossed(before, env_steps, cfg.checkpoint_every) and env_steps < cfg.total_steps:
            checkpoint.save(run_dir, env_steps, state)
    if evaluated_at != env_steps:
        logger.phase("evaluating")
        success = np.asarray(evaluate(state.sac, eval_keys(env_steps)))
        logger.log_eval(env_steps, env.task_names, success, seeds)
    checkpoint.save(run_dir, env_steps, state)
    return finish_run(logger, cfg, run_dir, env, seeds, success, env_steps,
                      time.perf_counter() - start)


def train_on_host(cfg, env, sac, seeds, run_dir, resuming, logger) -> dict:
    """CPU Meta-World: Python steps the vector env while the device updates (``host_loop``).
    On resume the envs start fresh episodes (MuJoCo state lives outside JAX)."""
    T, E = env.num_tasks, env.envs_per_task
    pieces = make_host_pieces(cfg, sac)
    eval_action = jax.jit(lambda s, o: sac.eval_action(s, o, task_onehots(T, o.shape[1])))
    key = jax.random.PRNGKey(seeds[0])
    k_sac, _, k_loop = jax.random.split(key, 3)
    example = transition_example(env.obs_dim, env.act_dim, sac.method.store_spec)
    _, obs = env.reset()
    state = TrainState(sac.init(k_sac), buffer_init(example, T, cfg.buffer_size // T), {},
                       jnp.asarray(obs), k_loop, jnp.zeros((), jnp.int32), empty_stats(T, E))
    if resuming:
        state = _restore(run_dir, state)._replace(obs=jnp.asarray(obs),
                                                  stats=empty_stats(T, E))
    carry = HostCarry(state.sac, state.buffer, jnp.asarray(obs), state.key, int(state.env_steps),
                      state.stats)
    env_steps = carry.env_steps
    if resuming:
        logger.truncate_after(env_steps)
    logger.begin(env_steps)

    def as_train_state(c: HostCarry) -> TrainState:
        return TrainState(c.sac, c.buffer, {}, c.obs, c.key, jnp.int32(c.env_steps), c.stats)

    def evaluate(c: HostCarry) -> np.ndarray:
        logger.phase("evaluating")
        return env.evaluate(lambda o: eval_action(c.sac, jnp.asarray(o)), cfg.eval_episodes)[None]

    start, updates, infos, collect_stats = time.perf_counter(), 0, [], []
    success, evaluated_at = None, None
    stop = EarlyStop(cfg).resume(run_dir) if resuming else EarlyStop(cfg)
    shown = None
    while env_steps < cfg.total_steps:
        before = env_steps
        learn = env_steps >= max(cfg.warmup_steps, 1)
        phase = phase_name(env_steps, cfg)
        if phase != shown:  # the first step of a phase compiles its programs
            logger.phase(f"compiling, then {phase}")
        carry, out, info, aux = host_step(pieces, env, carry, learn)
        if phase != shown:
            logger.phase(phase)
            shown = phase
        env_steps = carry.env_steps
        collect_stats.append(aux.get("stats", {}))
        if info is not None:
            infos.append(info)
            updates += cfg.updates_per_step
        logger.tick(env_steps, updates)
        if crossed(before, env_steps, cfg.steps_per_call * T * E) or env_steps >= cfg.total_steps:
            metrics = (jax.tree.map(lambda *x: jnp.stack(x).mean(0), *infos) if infos else {})
            if infos:
                check_finite(metrics, env_steps)
            stats = carry.stats
            metrics["collect"] = jax.tree.map(lambda *x: jnp.stack(x).sum(0), *collect_stats)
            metrics.update(episodes=stats.done,
                           train_success=stats.done_success / jnp.maximum(stats.done, 1),
                           train_return=stats.done_return / jnp.maximum(stats.done, 1))
            logger.log_train(env_steps, metrics, seeds[0])
            logger.tick(env_steps, updates, float(np.mean(metrics["train_success"])))
            infos, collect_stats = [], []
            carry = carry._replace(stats=reset_counts(stats))
        if crossed(before, env_steps, cfg.eval_every) and env_steps < cfg.total_steps:
            success = evaluate(carry)
            logger.phase(phase)
            evaluated_at = env_steps
            if record_eval(logger, cfg, env, seeds, stop, env_steps, success):
                break
        if crossed(before, env_steps, cfg.checkpoint_every) and env_steps < cfg.total_steps:
            checkpoint.save(run_dir, env_steps, as_train_state(carry))
    if evaluated_at != env_steps:
        success = evaluate(carry)
        logger.log_eval(env_steps, env.task_names, success, seeds)
    checkpoint.save(run_dir, env_steps, as_train_state(carry))
    return finish_run(logger, cfg, run_dir, env, seeds, success, env_steps,
                      time.perf_counter() - start)
