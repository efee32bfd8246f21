"""Sweeps: a grid of methods x hyperparameter values x seeds, each point written as a run folder.

A *point* is one method with one set of hyperparameter values; it trains all the sweep's seeds and
writes the run folder that ``experiments/run.py --seeds ...`` writes (config.json, metrics.jsonl,
metrics.csv, eval.jsonl, eval_table.md, summary.json, tb/, checkpoints/), so the report and every
other reader see one format. The sweep folder also holds ``sweep.json``: the grid, the device
groups and each point's status (``ok`` / ``failed`` with the error).

Device environments (point-mt, mt10-mjx): points that compile to the same program are one *group*;
its rows (points x seeds) lie on a leading axis that is ``vmap``-ped inside one jitted program and
sharded over the devices (``Mesh`` + ``NamedSharding``, on every host with ``jax.distributed``).
Float hyperparameters (lr, tau, gamma, ...) that differ between points are traced values, one per
row, so an lr grid is one program; any other difference (algo, shapes, ints, switches) makes a new
group. A row count that does not divide over the devices is padded with copies of the last row
(discarded), or refused with ``pad=False``.

Host environments (CPU Meta-World): every (point, seed) is one ``experiments/run.py`` process,
``workers`` at a time. A point that fails (bad config, non-finite loss, crashed process) is
recorded as failed; the others finish.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import time
import typing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mtrl_jax.config import ALGOS, DEVICE_ENVS, NON_PROGRAM_FIELDS, Config, ConfigError

RUN_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "experiments", "run.py")


# ------------------------------------------------------------------------------------------------
# The grid: parsing values, expanding points
# ------------------------------------------------------------------------------------------------

def field_types() -> dict[str, Any]:
    """Config field name -> its resolved type annotation."""
    return typing.get_type_hints(Config)


def parse_value(name: str, text: Any) -> Any:
    """Convert one value (a CLI string or a JSON/TOML value) to the type of Config field ``name``.

    Tuples are written ``64x64`` on the command line (lists in spec files); ``none`` is None.
    Raises ConfigError naming the field and the expected type.
    """
    types = field_types()
    if name not in types:
        close = [f for f in types if f.startswith(name.split("_")[0])]
        raise ConfigError(f"unknown config field {name!r} in the sweep grid"
                          + (f" (did you mean {', '.join(close)}?)" if close else ""))
    kind = types[name]
    args = typing.get_args(kind)
    optional = type(None) in args
    if isinstance(text, str) and text.strip().lower() == "none":
        if optional:
            return None
        raise ConfigError(f"--set {name}: None is not allowed for this field")
    base = [a for a in args if a is not type(None)][0] if optional else kind
    try:
        return _convert(base, text)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"--set {name}={text!r}: expected {base}, {err}") from None


def _convert(kind: Any, value: Any) -> Any:
    """Convert ``value`` to ``kind`` (bool, int, float, str, Literal[...], tuple[int, ...])."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise ValueError(f"choose one of {typing.get_args(kind)}")
        return value
    if origin is tuple:
        items = value if isinstance(value, (list, tuple)) else str(value).split("x")
        return tuple(int(v) for v in items)
    if kind is bool:
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
            raise ValueError("write true or false")
        return lowered in ("true", "1", "on", "yes")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("not an integer")
        return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
    if kind is float:
        return float(value)
    return str(value)


def parse_set(items: list[str]) -> dict[str, list]:
    """``["lr=3e-4,1e-3", "paco-k=3"]`` -> ``{"lr": [3e-4, 1e-3], "paco_k": [3]}``."""
    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: write KEY=VALUE[,VALUE...], e.g. lr=3e-4,1e-3")
        key, values = item.split("=", 1)
        name = key.strip().replace("-", "_")
        grid[name] = [parse_value(name, v) for v in values.split(",") if v != ""]
        if not grid[name]:
            raise ConfigError(f"--set {item!r}: no values")
    return grid


def load_spec(path: str) -> dict:
    """Read a JSON or TOML spec: keys algos, seeds, env and grid ({field: [values]})."""
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".toml"):
        import tomllib
        spec = tomllib.loads(raw.decode())
    else:
        spec = json.loads(raw)
    unknown = set(spec) - {"algos", "seeds", "env", "grid"}
    if unknown:
        raise ConfigError(f"spec {path}: unknown keys {sorted(unknown)}; use algos, seeds, env, "
                          "grid")
    grid = {}
    for key, values in spec.get("grid", {}).items():
        name = key.replace("-", "_")
        values = values if isinstance(values, list) else [values]
        grid[name] = [parse_value(name, v) for v in values]
    return {**spec, "grid": grid}


@dataclass(frozen=True)
class Point:
    """One sweep point: a method and one value per grid field, trained on all the seeds."""

    name: str
    algo: str
    values: dict
    seeds: tuple[int, ...]


def point_name(algo: str, values: dict, varying: tuple[str, ...] | None = None) -> str:
    """Folder name of a point from its algo and the ``varying`` grid values, e.g.
    ``mtsac-lr0.001-hidden64x64`` (fields fixed for the whole sweep are left out)."""
    parts = [algo]
    for key, value in values.items():
        if varying is not None and key not in varying:
            continue
        text = "x".join(map(str, value)) if isinstance(value, tuple) else str(value)
        parts.append(f"{key}{text}")
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", "-".join(parts))


def expand_grid(algos: list[str], grid: dict[str, list], seeds: list[int]) -> list[Point]:
    """Every combination of algo and grid values, in a stable order; seeds are shared."""
    for algo in algos:
        if algo not in ALGOS:
            raise ConfigError(f"unknown algo {algo!r} in --algos: choose from {', '.join(ALGOS)}")
    if not seeds:
        raise ConfigError("--seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {seeds} repeats a seed")
    keys = list(grid)
    varying = tuple(k for k in keys if len(grid[k]) > 1)
    points = []
    for algo in algos:
        for combo in itertools.product(*(grid[k] for k in keys)):
            values = dict(zip(keys, combo))
            points.append(Point(point_name(algo, values, varying), algo, values, tuple(seeds)))
    return points


def point_config(point: Point, env: str, sweep_dir: str, seeds: tuple[int, ...] | None = None,
                 run_name: str | None = None) -> Config:
    """The (unresolved) Config of a point; ``seeds`` defaults to the point's seeds."""
    seeds = point.seeds if seeds is None else seeds
    return Config(algo=point.algo, env=env, seed=seeds[0], seeds=tuple(seeds),
                  out_dir=sweep_dir, run_name=run_name or point.name, progress=False,
                  **point.values)


# ------------------------------------------------------------------------------------------------
# Device groups and padding
# ------------------------------------------------------------------------------------------------

def float_fields() -> tuple[str, ...]:
    """Config fields of type float (or float | None): candidates for traced values."""
    out = []
    for name, kind in field_types().items():
        args = typing.get_args(kind)
        if kind is float or (float in args and all(a in (float, type(None)) for a in args)):
            out.append(name)
    return tuple(out)


def program_key(cfg: Config, traced: tuple[str, ...]) -> tuple:
    """What makes two resolved configs compile to different programs."""
    d = dataclasses.asdict(cfg)
    return tuple(sorted((k, repr(v)) for k, v in d.items()
                        if k not in NON_PROGRAM_FIELDS and k not in traced)) + (
        ("num_seeds", len(cfg.seeds or (cfg.seed,))),)


def traced_fields(cfgs: list[Config]) -> tuple[str, ...]:
    """Float fields set (not None) in every config and differing between some of them."""
    out = []
    for name in float_fields():
        values = [getattr(c, name) for c in cfgs]
        if all(v is not None for v in values) and len(set(values)) > 1:
            out.append(name)
    return tuple(out)


@dataclass
class Group:
    """Points that run as one sharded program; ``traced`` fields differ per row."""

    points: list[Point]
    cfgs: list[Config]
    traced: tuple[str, ...]

    @property
    def num_seeds(self) -> int:
        return len(self.points[0].seeds)

    @property
    def rows(self) -> int:
        return len(self.points) * self.num_seeds


def make_groups(points: list[Point], cfgs: list[Config], trace_floats: bool = True
                ) -> list[Group]:
    """Group points by program; with ``trace_floats`` differing float fields are traced."""
    candidates = traced_fields(cfgs) if trace_floats else ()
    by_key: dict[tuple, Group] = {}
    for point, cfg in zip(points, cfgs):
        floats = tuple(f for f in candidates if getattr(cfg, f) is not None)
        key = program_key(cfg, floats) + (("traced", floats),)
        group = by_key.setdefault(key, Group([], [], ()))
        group.points.append(point)
        group.cfgs.append(cfg)
    groups = []
    for group in by_key.values():
        group.traced = traced_fields(group.cfgs) if trace_floats else ()
        groups.append(group)
    return groups


def padding(rows: int, devices: int) -> int:
    """Rows to add so that ``rows`` divides over ``devices``."""
    return (-rows) % devices


def padding_message(rows: int, devices: int, pad: bool) -> str | None:
    """What happens to a group whose rows do not divide over the devices (None if they do)."""
    extra = padding(rows, devices)
    if extra == 0:
        return None
    if pad:
        return (f"{rows} runs (points x seeds) do not divide over {devices} devices: padding with "
                f"{extra} copies of the last run, computed and discarded; a multiple of {devices} "
                "runs wastes nothing")
    return (f"{rows} runs (points x seeds) do not divide over {devices} devices: use a multiple "
            f"of {devices} runs (e.g. {rows + extra}: add seeds or grid values), or allow padding "
            "(drop --no-pad)")


# ------------------------------------------------------------------------------------------------
# The sharded device program
# ------------------------------------------------------------------------------------------------

def make_program(cfg: Config, traced: tuple[str, ...], env):
    """(init(h, key), chunk(h, state), evaluate(h, sac_state, key)) for one row; ``h`` maps each
    traced field to its (scalar) value. The SAC and method closures are built inside the trace,
    so the traced hyperparameters are runtime values of one compiled program."""
    from mtrl_jax.agents.sac import make_sac
    from mtrl_jax.nets import make_method
    from mtrl_jax.train import make_device_evaluate, make_train

    def parts(h):
        row_cfg = cfg.replace(**{name: h[name] for name in traced})
        method = make_method(row_cfg, env.obs_dim, env.act_dim, env.num_tasks)
        sac = make_sac(method, row_cfg, env.num_tasks, env.act_dim)
        init, chunk = make_train(row_cfg, env, sac)
        return init, chunk, make_device_evaluate(row_cfg, env, sac)

    def init(h, key):
        return parts(h)[0](key)

    def chunk(h, state):
        return parts(h)[1](state)

    def evaluate(h, sac_state, key):
        return parts(h)[2](sac_state, key)

    return init, chunk, evaluate


def row_sharding(devices=None):
    """NamedSharding that splits a leading axis over all (global) devices."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    mesh = Mesh(np.array(devices if devices is not None else jax.devices()), ("runs",))
    return NamedSharding(mesh, PartitionSpec("runs"))


def put_rows(host_array: np.ndarray, sharding):
    """A global array from a host array that every process holds in full."""
    import jax
    return jax.make_array_from_callback(host_array.shape, sharding, lambda idx: host_array[idx])


def to_host(tree):
    """Fetch a (possibly multi-host) sharded pytree to numpy on every process."""
    import jax
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)


class PointWriter:
    """Writes one point's run folder in the format of experiments/run.py (process 0 only)."""

    def __init__(self, cfg: Config, run_dir: str, env, write: bool):
        from mtrl_jax.experiment import write_config
        from mtrl_jax.logging import RunLogger
        self.cfg, self.run_dir, self.env, self.write = cfg, run_dir, env, write
        self.seeds = tuple(cfg.seeds or (cfg.seed,))
        self.failed, self.start = None, time.perf_counter()
        self.logger = None
        if write:
            write_config(cfg, run_dir)
            self.logger = RunLogger(run_dir, cfg.total_steps, 0, progress=False)

    def train(self, env_steps: int, metrics: dict) -> None:
        """Log one chunk's metrics (leading axis: this point's seeds); a non-finite loss fails
        the point."""
        import jax
        from mtrl_jax.experiment import TrainingDiverged, check_finite
        try:
            check_finite(metrics, env_steps)
        except TrainingDiverged as err:
            self.fail(str(err), env_steps)
            return
        if self.logger is not None:
            for i, seed in enumerate(self.seeds):
                self.logger.log_train(env_steps, jax.tree.map(lambda x: x[i], metrics), seed)

    def evaluate(self, env_steps: int, success: np.ndarray) -> None:
        if self.logger is not None:
            self.logger.log_eval(env_steps, self.env.task_names, success, self.seeds)

    def checkpoint(self, env_steps: int, state) -> None:
        import jax
        import jax.numpy as jnp
        from mtrl_jax import checkpoint
        if self.write:
            checkpoint.save(self.run_dir, env_steps, jax.tree.map(jnp.asarray, state))

    def finish(self, env_steps: int, success: np.ndarray, state) -> dict:
        """Final evaluation, checkpoint, eval_table.md and summary.json, as run() writes them."""
        from mtrl_jax.experiment import finish_run, write_summary
        self.evaluate(env_steps, success)
        self.checkpoint(env_steps, state)
        if not self.write:
            return {}
        summary = finish_run(self.logger, self.cfg, self.run_dir, self.env, self.seeds, success,
                             env_steps, time.perf_counter() - self.start)
        write_summary(self.run_dir, summary)
        self.logger.close()
        from mtrl_jax.nets import make_method   # the method's end-of-run files, as run() writes
        method = make_method(self.cfg, self.env.obs_dim, self.env.act_dim, self.env.num_tasks)
        if method.on_run_end is not None:
            method.on_run_end(self.run_dir)
        return summary

    def fail(self, error: str, env_steps: int | None = None) -> None:
        """Mark the point failed (failed.json in its folder); it logs nothing more."""
        self.failed = error
        if self.write:
            with open(os.path.join(self.run_dir, "failed.json"), "w") as f:
                json.dump({"error": error, "env_steps": env_steps}, f, indent=2)
            if self.logger is not None:
                self.logger.close()
                self.logger = None


def run_group(group: Group, run_dirs: list[str], pad: bool = True, log=print) -> list[dict]:
    """Train a group's points x seeds as one program sharded over all devices.

    Returns one record per point: status, error, mean_success, run_dir."""
    import jax
    from mtrl_jax.envs import make_env
    from mtrl_jax.xla_cache import enable_compile_cache
    cfg = group.cfgs[0]
    enable_compile_cache(cfg.compile_cache)
    env = make_env(cfg, seed=group.points[0].seeds[0])
    devices = jax.devices()
    n_dev, seeds_n = len(devices), group.num_seeds
    message = padding_message(group.rows, n_dev, pad)
    if message and not pad:
        raise ConfigError(message)
    if message:
        log(f"note: {message}")
    write = jax.process_index() == 0
    writers = [PointWriter(c, d, env, write) for c, d in zip(group.cfgs, run_dirs)]

    seeds = np.array([s for p in group.points for s in p.seeds], np.int64)
    hparams = {name: np.array([getattr(c, name) for c in group.cfgs for _ in range(seeds_n)],
                              np.float32) for name in group.traced}
    extra = padding(len(seeds), n_dev)
    seeds = np.concatenate([seeds, np.repeat(seeds[-1:], extra)])
    hparams = {k: np.concatenate([v, np.repeat(v[-1:], extra)]) for k, v in hparams.items()}
    keys = np.stack([np.asarray(jax.random.PRNGKey(int(s))) for s in seeds])

    from mtrl_jax.experiment import crossed, eval_key
    rows = row_sharding(devices)
    init, chunk, evaluate = make_program(cfg, group.traced, env)
    init = jax.jit(jax.vmap(init), in_shardings=(rows, rows), out_shardings=rows)
    chunk = jax.jit(jax.vmap(chunk), in_shardings=(rows, rows), out_shardings=rows,
                    donate_argnums=1)
    evaluate = jax.jit(jax.vmap(evaluate), in_shardings=(rows, rows, rows), out_shardings=rows)
    h = {k: put_rows(v, rows) for k, v in hparams.items()}
    state = init(h, put_rows(keys, rows))

    def eval_all(step):
        k = np.stack([np.asarray(eval_key(int(s), step)) for s in seeds])
        return np.asarray(to_host(evaluate(h, state.sac, put_rows(k, rows))))

    def point_rows(tree, p):
        return jax.tree.map(lambda x: x[p * seeds_n:(p + 1) * seeds_n], tree)

    devices_used = len(jax.tree.leaves(state)[0].sharding.device_set)
    env_steps, t0 = 0, time.perf_counter()
    while env_steps < cfg.total_steps:
        before = env_steps
        state, metrics = chunk(h, state)
        metrics = to_host(metrics)
        env_steps = int(np.asarray(to_host(state.env_steps))[0])
        for p, w in enumerate(writers):
            if w.failed is None:
                w.train(env_steps, point_rows(metrics, p))
        if crossed(before, env_steps, cfg.eval_every) and env_steps < cfg.total_steps:
            success = eval_all(env_steps)
            for p, w in enumerate(writers):
                if w.failed is None:
                    w.evaluate(env_steps, point_rows(success, p))
        if crossed(before, env_steps, cfg.checkpoint_every) and env_steps < cfg.total_steps:
            host_state = to_host(state)
            for p, w in enumerate(writers):
                if w.failed is None:
                    w.checkpoint(env_steps, point_rows(host_state, p))
        alive = sum(w.failed is None for w in writers)
        log(f"  {env_steps}/{cfg.total_steps} env steps, {alive}/{len(writers)} points running, "
            f"{time.perf_counter() - t0:.1f}s")
        if alive == 0:
            break
    success = eval_all(env_steps)
    host_state = to_host(state)
    records = []
    for p, w in enumerate(writers):
        if w.failed is None:
            summary = w.finish(env_steps, point_rows(success, p), point_rows(host_state, p))
            records.append({"status": "ok", "mean_success": summary.get("mean_success"),
                            "devices_used": devices_used})
        else:
            records.append({"status": "failed", "error": w.failed, "devices_used": devices_used})
    return records


# ------------------------------------------------------------------------------------------------
# Host environments: one experiments/run.py process per (point, seed)
# ------------------------------------------------------------------------------------------------

def config_to_args(cfg: Config) -> list[str]:
    """CLI flags of experiments/run.py that reproduce ``cfg`` (fields differing from Config())."""
    default, types = Config(), field_types()
    args = []
    for f in dataclasses.fields(Config):
        value = getattr(cfg, f.name)
        if value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool) and type(None) in typing.get_args(types[f.name]):
            args += [flag, str(value)]          # tyro: --flag {None,True,False}
        elif isinstance(value, bool):
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif value is None:
            args += [flag, "None"]
        elif isinstance(value, tuple):
            args += [flag, *map(str, value)]
        else:
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    return args


def run_process(cfg: Config, timeout: float | None = None, log=print) -> dict:
    """Run one experiments/run.py process for ``cfg``; a record with status and error."""
    cmd = [sys.executable, RUN_PY, *config_to_args(cfg)]
    run_dir = os.path.join(cfg.out_dir, cfg.run_name)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return _process_failure(run_dir, f"timed out after {timeout}s")
    if proc.returncode != 0:
        return _process_failure(run_dir, f"exit {proc.returncode}: "
                                + last_message(proc.stderr))
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    log(f"  done {cfg.run_name}: mean success {summary['mean_success']:.3f}")
    return {"status": "ok", "mean_success": summary["mean_success"]}


def last_message(stderr: str) -> str:
    """The last line of a process's error output that says something (not a frame border)."""
    lines = [line.strip(" │╭╮╰╯─") for line in stderr.splitlines()]
    lines = [line for line in lines if any(c.isalnum() for c in line)]
    return lines[-1] if lines else "no error output"


def _process_failure(run_dir: str, error: str) -> dict:
    """Record a failed process in its run folder (if it made one) and return the record."""
    if os.path.isdir(run_dir):
        with open(os.path.join(run_dir, "failed.json"), "w") as f:
            json.dump({"error": error}, f, indent=2)
    return {"status": "failed", "error": error}


# ------------------------------------------------------------------------------------------------
# The sweep
# ------------------------------------------------------------------------------------------------

@dataclass
class Sweep:
    """A resolved sweep: where it writes and what it runs."""

    env: str
    points: list[Point]
    sweep_dir: str
    mode: Literal["device", "processes"]
    pad: bool = True
    workers: int = 1
    trace_floats: bool = True
    timeout: float | None = None
    records: dict = field(default_factory=dict)


def resolve_point(point: Point, env: str, sweep_dir: str, seeds=None, run_name=None):
    """(resolved Config, run_dir) or raise ConfigError (bad value, existing folder)."""
    from mtrl_jax.experiment import prepare_run_dir
    cfg, run_dir, _ = prepare_run_dir(point_config(point, env, sweep_dir, seeds, run_name))
    return cfg, run_dir


def write_record(sweep: Sweep, extra: dict | None = None) -> None:
    """sweep.json: the grid, the groups and every point's status (rewritten as points finish)."""
    import jax
    if jax.process_index() != 0:
        return
    os.makedirs(sweep.sweep_dir, exist_ok=True)
    out = {"env": sweep.env, "mode": sweep.mode, "points": sweep.records, **(extra or {})}
    with open(os.path.join(sweep.sweep_dir, "sweep.json"), "w") as f:
        json.dump(out, f, indent=2, default=str)


def validate_for_env(sweep: Sweep, points: list[Point], cfgs: list[Config], log=print):
    """Drop (as failed) the points whose config does not fit the env (e.g. a batch size not
    divisible by its number of tasks), as experiment.run checks before training."""
    from mtrl_jax.config import validate
    from mtrl_jax.envs import make_env
    env = make_env(cfgs[0], seed=points[0].seeds[0])
    kept_points, kept_cfgs = [], []
    for p, cfg in zip(points, cfgs):
        try:
            validate(cfg, env.num_tasks)
        except ConfigError as err:
            sweep.records[p.name].update(status="failed", error=str(err))
            log(f"point {p.name} failed: {err}")
            continue
        kept_points.append(p)
        kept_cfgs.append(cfg)
    return kept_points, kept_cfgs


def run_device_sweep(sweep: Sweep, log=print) -> dict:
    """Resolve every point, group them into programs and run each group sharded."""
    import jax
    points, cfgs = [], []
    for p in sweep.points:
        try:
            cfg, run_dir = resolve_point(p, sweep.env, sweep.sweep_dir)
        except ConfigError as err:
            sweep.records[p.name] = {"status": "failed", "error": str(err), "values": p.values,
                                     "algo": p.algo}
            log(f"point {p.name} failed: {err}")
            continue
        points.append(p)
        cfgs.append(cfg)
        sweep.records[p.name] = {"status": "pending", "run_dir": run_dir, "algo": p.algo,
                                 "values": p.values}
    if jax.process_count() > 1:   # every host resolved before process 0 writes any folder
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices("mtrl_jax sweep: points resolved")
    if cfgs:
        points, cfgs = validate_for_env(sweep, points, cfgs, log)
    groups = make_groups(points, cfgs, sweep.trace_floats)
    info = {"devices": jax.device_count(), "processes": jax.process_count(), "groups": [
        {"points": [p.name for p in g.points], "traced": list(g.traced), "rows": g.rows,
         "padded_rows": g.rows + padding(g.rows, jax.device_count())} for g in groups]}
    if not sweep.pad:
        for g in groups:
            message = padding_message(g.rows, jax.device_count(), pad=False)
            if message:
                raise ConfigError(message)
    write_record(sweep, info)
    for i, group in enumerate(groups):
        log(f"group {i + 1}/{len(groups)}: {len(group.points)} points x {group.num_seeds} seeds "
            f"on {jax.device_count()} devices" + (f", traced {', '.join(group.traced)}"
                                                  if group.traced else ""))
        group_dirs = [sweep.records[p.name]["run_dir"] for p in group.points]
        try:
            results = run_group(group, group_dirs, sweep.pad, log)
        except Exception as err:  # a program that fails fails its points, not the sweep
            results = [{"status": "failed", "error": f"{type(err).__name__}: {err}"}] * len(
                group.points)
            for d in group_dirs:
                _process_failure(d, results[0]["error"])
            log(f"group {i + 1} failed: {results[0]['error']}")
        for p, r in zip(group.points, results):
            sweep.records[p.name].update(r)
        write_record(sweep, info)
    return sweep.records


def run_process_sweep(sweep: Sweep, log=print) -> dict:
    """One experiments/run.py process per (point, seed), ``workers`` at a time."""
    jobs = []
    for p in sweep.points:
        for seed in p.seeds:
            name = f"{p.name}-s{seed}"
            record = {"status": "pending", "algo": p.algo, "values": p.values, "seed": seed}
            try:
                cfg, run_dir = resolve_point(p, sweep.env, sweep.sweep_dir, (seed,), name)
                record["run_dir"] = run_dir
                jobs.append((name, cfg.replace(seeds=None, seed=seed)))
            except ConfigError as err:
                record.update(status="failed", error=str(err))
                log(f"point {name} failed: {err}")
            sweep.records[name] = record
    write_record(sweep)

    def one(job):
        name, cfg = job
        result = run_process(cfg, sweep.timeout, log)
        sweep.records[name].update(result)
        if result["status"] == "failed":
            log(f"point {name} failed: {result['error']}")
        return result

    with ThreadPoolExecutor(max_workers=max(1, sweep.workers)) as pool:
        list(pool.map(one, jobs))
    write_record(sweep)
    return sweep.records


def maybe_initialize_distributed(force: bool = False) -> bool:
    """``jax.distributed.initialize`` for multi-host sweeps, from the usual cluster variables:
    JAX_COORDINATOR_ADDRESS + JAX_NUM_PROCESSES + JAX_PROCESS_ID, or SLURM / Open MPI
    (auto-detected by JAX). Returns whether it initialised."""
    import jax
    if os.environ.get("JAX_COORDINATOR_ADDRESS") and os.environ.get("JAX_NUM_PROCESSES"):
        jax.distributed.initialize(
            coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ.get("JAX_PROCESS_ID", "0")))
        return True
    cluster = (int(os.environ.get("SLURM_NTASKS", "1")) > 1
               or int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1)
    if force or cluster:
        jax.distributed.initialize()
        return True
    return False


def run_sweep(sweep: Sweep, log=print) -> dict:
    """Run every point of ``sweep``; returns {point name: record}. Never raises for one point."""
    runner = run_device_sweep if sweep.mode == "device" else run_process_sweep
    records = runner(sweep, log)
    ok = sum(r["status"] == "ok" for r in records.values())
    log(f"sweep {sweep.sweep_dir}: {ok}/{len(records)} points ok")
    for name, r in records.items():
        if r["status"] != "ok":
            log(f"  failed {name}: {r.get('error')}")
    return records


def default_mode(env: str) -> Literal["device", "processes"]:
    """Device envs run sharded programs; host envs (CPU Meta-World) run processes."""
    return "device" if env in DEVICE_ENVS else "processes"
