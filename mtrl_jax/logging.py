"""Run-folder logging: JSONL and CSV metrics, TensorBoard events (and Weights & Biases with
``--wandb``), a per-task success table and a progress bar (phase, env steps, env-steps/s, updates/s, latest success, ETA).

The bar is drawn by wall time, not by training chunk: the loops report their counters with
``tick`` (cheap, every step or chunk) and the phase with ``phase``; a background thread redraws
every ``every`` seconds, so the bar moves while a long jitted chunk or a compile runs."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
import time

import numpy as np

from mtrl_jax.run_folder import EVALS, METRICS, METRICS_CSV, TENSORBOARD


def to_python(value):
    """Arrays -> lists/floats so that metrics serialise to JSON."""
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    arr = np.asarray(value)
    if arr.ndim == 0:
        x = arr.item()
        return None if isinstance(x, float) and not math.isfinite(x) else x
    return arr.tolist()


def scalars(metrics: dict, prefix: str = "") -> dict:
    """Flatten to scalar entries: arrays of shape (T,) become their mean under the same name."""
    out = {}
    for k, v in metrics.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(scalars(v, f"{name}/"))
            continue
        arr = np.asarray(v, dtype=np.float64)
        if arr.size:
            out[name] = float(arr.mean())
    return out


def success_table(task_names, success: np.ndarray, title: str = "success") -> str:
    """Markdown table of per-task success (rows: tasks; columns: seeds if 2-D (S, T))."""
    success = np.atleast_2d(success)
    cols = [f"seed {i}" for i in range(success.shape[0])] if success.shape[0] > 1 else [title]
    lines = ["| task | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for t, name in enumerate(task_names):
        lines.append(f"| {name} | " + " | ".join(f"{s[t]:.3f}" for s in success) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{s.mean():.3f}**" for s in success) + " |")
    return "\n".join(lines)


def _replace_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (a kill leaves the old
    file or the new one, never half of one)."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def import_wandb():
    """The wandb module; ConfigError (one line, with the pip command) when it is not installed."""
    try:
        import wandb
    except ImportError:
        from mtrl_jax.config import ConfigError
        raise ConfigError("--wandb needs the wandb package: pip install wandb") from None
    return wandb


def open_wandb(project: str, run_dir: str, config: dict | None):
    """A W&B run named and identified by the run folder, so ``--resume`` continues it."""
    name = os.path.basename(os.path.normpath(run_dir))
    run_id = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:64]
    return import_wandb().init(project=project, name=name, id=run_id, resume="allow",
                               dir=run_dir, config=config)


class RunLogger:
    """Appends a run folder's metrics.jsonl / metrics.csv / eval.jsonl rows and TensorBoard events
    (``mtrl_jax.run_folder`` owns the layout)."""

    def __init__(self, run_dir: str, total_steps: int, start_steps: int = 0,
                 progress: bool = True, every: float = 10.0, stream=None,
                 wandb_project: str | None = None, config: dict | None = None):
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self._wandb = open_wandb(wandb_project, run_dir, config) if wandb_project else None
        self._jsonl = open(os.path.join(run_dir, METRICS), "a")
        self._eval = open(os.path.join(run_dir, EVALS), "a")
        self._csv_path = os.path.join(run_dir, METRICS_CSV)
        self._csv_fields = None
        if os.path.exists(self._csv_path):
            with open(self._csv_path) as f:
                header = f.readline().strip()
            self._csv_fields = header.split(",") if header else None
        self._tb = self._open_tb()
        self._bar, self._closed = None, False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._phase = "starting"
        self._steps, self._updates, self._success = start_steps, 0, None
        self._last = (time.perf_counter(), start_steps, 0)
        self._rates = ("-", "-")
        self.every = every
        if progress:
            from tqdm import tqdm
            self._bar = tqdm(total=total_steps, initial=start_steps, unit="step",
                             dynamic_ncols=True, mininterval=0, file=stream)
            self.draw()
            self._thread = threading.Thread(target=self._heartbeat, daemon=True)
            self._thread.start()

    def _open_tb(self, purge_step: int | None = None):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:  # pragma: no cover - tensorboardX is a dependency
            return None
        return SummaryWriter(os.path.join(self.run_dir, TENSORBOARD), purge_step=purge_step)

    def truncate_after(self, env_steps: int):
        """Drop every metrics, eval and TensorBoard row logged past ``env_steps`` (a resume from
        the checkpoint at ``env_steps``: those rows came after it and will be logged again)."""
        self._jsonl.close()
        self._eval.close()
        for name in (METRICS, EVALS):
            path = os.path.join(self.run_dir, name)
            with open(path) as f:
                kept = [ln for ln in f if ln.strip() and json.loads(ln)["env_steps"] <= env_steps]
            _replace_file(path, "".join(kept))
        if os.path.exists(self._csv_path):
            with open(self._csv_path, newline="") as f:
                rows = list(csv.reader(f))
            if rows:
                col = rows[0].index("env_steps")
                kept = [rows[0]] + [r for r in rows[1:] if int(float(r[col])) <= env_steps]
                text = io.StringIO()
                csv.writer(text).writerows(kept)
                _replace_file(self._csv_path, text.getvalue())
        self._jsonl = open(os.path.join(self.run_dir, METRICS), "a")
        self._eval = open(os.path.join(self.run_dir, EVALS), "a")
        if self._tb is not None:
            self._tb.close()
            self._tb = self._open_tb(purge_step=env_steps + 1)

    def _heartbeat(self):
        while not self._stop.wait(self.every):
            self.draw()

    def tick(self, env_steps: int, updates: int, success: float | None = None):
        """Report the loop's counters (drawn at the next redraw); ``success`` if new."""
        self._steps, self._updates = env_steps, updates
        if success is not None:
            self._success = success

    def phase(self, text: str):
        """What the run is doing now (compiling, warm-up, training, evaluating); redraws."""
        self._phase = text
        self.draw()

    def begin(self, env_steps: int, updates: int = 0):
        """Start counting rates from here (after a restore)."""
        self._steps, self._updates = env_steps, updates
        self._last = (time.perf_counter(), env_steps, updates)
        if self._bar is not None:
            with self._lock:
                self._bar.n = self._bar.last_print_n = env_steps
                self._bar.refresh()

    def draw(self):
        """Redraw the bar: phase, steps, and rates over the time since the previous redraw."""
        if self._bar is None:
            return
        with self._lock:
            now, steps, updates = time.perf_counter(), self._steps, self._updates
            t0, s0, u0 = self._last
            if now - t0 >= 1.0 and steps > s0:
                self._rates = (f"{(steps - s0) / (now - t0):.0f}",
                               f"{(updates - u0) / (now - t0):.1f}")
                self._last = (now, steps, updates)
            postfix = {"env-steps/s": self._rates[0], "updates/s": self._rates[1]}
            if self._success is not None:
                postfix["success"] = f"{self._success:.2f}"
            self._bar.set_description_str(self._phase, refresh=False)
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.n = steps
            self._bar.refresh()

    def log_train(self, env_steps: int, metrics: dict, seed: int):
        row = {"env_steps": env_steps, "seed": seed, "time": time.time(), **to_python(metrics)}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        flat = {"env_steps": env_steps, "seed": seed, **scalars(metrics)}
        self._write_csv(flat)
        named = {f"seed{seed}/{k}": v for k, v in flat.items() if k not in ("env_steps", "seed")}
        if self._tb is not None:
            for k, v in named.items():
                self._tb.add_scalar(k, v, env_steps)
        if self._wandb is not None:
            self._wandb.log({"env_steps": env_steps, **named}, step=env_steps)

    def _write_csv(self, flat: dict):
        new_file = self._csv_fields is None
        if new_file:
            self._csv_fields = list(flat)
        with open(self._csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, self._csv_fields, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(flat)

    def log_eval(self, env_steps: int, task_names, success: np.ndarray, seeds):
        """success: (S, T) per seed and task."""
        self._success = float(np.mean(success))
        for seed, row in zip(seeds, np.atleast_2d(success)):
            entry = {"env_steps": env_steps, "seed": seed, "eval_success": float(row.mean()),
                     "eval_success_per_task": dict(zip(task_names, map(float, row)))}
            self._eval.write(json.dumps(entry) + "\n")
            self._jsonl.write(json.dumps({"env_steps": env_steps, "seed": seed,
                                          "eval_success": float(row.mean())}) + "\n")
            named = {f"seed{seed}/eval_success": float(row.mean()),
                     **{f"seed{seed}/eval_success/{name}": float(v) for name, v in zip(task_names, row)}}
            if self._tb is not None:
                for k, v in named.items():
                    self._tb.add_scalar(k, v, env_steps)
            if self._wandb is not None:
                self._wandb.log({"env_steps": env_steps, **named}, step=env_steps)
        self._eval.flush()
        self._jsonl.flush()

    def write(self, message: str):
        if self._bar is not None:
            with self._lock:
                self._bar.write(message, file=self._bar.fp)
        else:
            print(message, flush=True)

    def close(self):
        """Stop the bar and close every writer; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._bar is not None:
            self.draw()
            with self._lock:
                self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
        self._jsonl.close()
        self._eval.close()
