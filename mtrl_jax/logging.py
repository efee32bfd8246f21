"""Run-folder logging: JSONL and CSV metrics, TensorBoard events, a per-task success table and
a progress bar (phase, env steps, env-steps/s, updates/s, latest success, ETA).

The bar is drawn by wall time, not by training chunk: the loops report their counters with
``tick`` (cheap, every step or chunk) and the phase with ``phase``; a background thread redraws
every ``every`` seconds, so the bar moves while a long jitted chunk or a compile runs."""

from __future__ import annotations

import csv
import json
import math
import os
import threading
import time

import numpy as np


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


class RunLogger:
    """Appends to ``metrics.jsonl`` / ``metrics.csv`` / ``eval.jsonl`` and TensorBoard events."""

    def __init__(self, run_dir: str, total_steps: int, start_steps: int = 0,
                 progress: bool = True, every: float = 10.0, stream=None):
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self._jsonl = open(os.path.join(run_dir, "metrics.jsonl"), "a")
        self._eval = open(os.path.join(run_dir, "eval.jsonl"), "a")
        self._csv_path = os.path.join(run_dir, "metrics.csv")
        self._csv_fields = None
        if os.path.exists(self._csv_path):
            with open(self._csv_path) as f:
                header = f.readline().strip()
            self._csv_fields = header.split(",") if header else None
        try:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(os.path.join(run_dir, "tb"))
        except ImportError:  # pragma: no cover - tensorboardX is a dependency
            self._tb = None
        self._bar = None
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

    def log_train(self, env_steps: int, metrics: dict, seed: int, updates: int):
        row = {"env_steps": env_steps, "seed": seed, "time": time.time(), **to_python(metrics)}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        flat = {"env_steps": env_steps, "seed": seed, **scalars(metrics)}
        self._write_csv(flat)
        if self._tb is not None:
            for k, v in flat.items():
                if k not in ("env_steps", "seed"):
                    self._tb.add_scalar(f"seed{seed}/{k}", v, env_steps)

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
            if self._tb is not None:
                self._tb.add_scalar(f"seed{seed}/eval_success", float(row.mean()), env_steps)
                for name, value in zip(task_names, row):
                    self._tb.add_scalar(f"seed{seed}/eval_success/{name}", float(value), env_steps)
        self._eval.flush()
        self._jsonl.flush()

    def write(self, message: str):
        if self._bar is not None:
            with self._lock:
                self._bar.write(message, file=self._bar.fp)
        else:
            print(message, flush=True)

    def close(self):
        self._stop.set()
        if self._bar is not None:
            self.draw()
            with self._lock:
                self._bar.close()
        if self._tb is not None:
            self._tb.close()
        self._jsonl.close()
        self._eval.close()
