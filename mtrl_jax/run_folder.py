"""The run folder: every file a run writes, and the readers that report, figures, ablations
and QMP use. Nothing else names these files.

::

    config.json      every resolved Config field            write_config / read_config
    metrics.jsonl    one row per (chunk, seed), eval rows   RunLogger / read_metrics
    metrics.csv      the scalar columns of metrics.jsonl    RunLogger
    eval.jsonl       one row per (evaluation, seed)         RunLogger / read_evals
    tb/              TensorBoard events                     RunLogger
    checkpoints/     orbax steps of the whole TrainState    save_checkpoint / restore_checkpoint
    eval_table.md    the final per-task success table       write_eval_table
    summary.json     a finished run                         write_summary / read_summary
    failed.json      a run or sweep point that failed       write_failed / read_failed
    stopped.json     a run stopped from outside (written by hand or by a script)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

from mtrl_jax import checkpoint
from mtrl_jax.checkpoint import CHECKPOINTS
from mtrl_jax.config import Config, ConfigError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
EVALS = "eval.jsonl"
TENSORBOARD = "tb"
EVAL_TABLE = "eval_table.md"
SUMMARY = "summary.json"
FAILED = "failed.json"
STOPPED = "stopped.json"
RUN_MARKERS = (CONFIG, EVALS, METRICS, SUMMARY)


class PartialFile(ValueError):
    """A run-folder file that is not complete JSON (a partial write); the message names it."""


def config_from_dict(raw: dict) -> Config:
    """A Config from its config.json form (JSON lists back to tuples)."""
    return Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def read_json(path: str) -> dict | None:
    """A JSON file's object, None if it does not exist; PartialFile if it is not complete."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError:
            raise PartialFile(f"{os.path.basename(path)} is not complete JSON") from None


def read_jsonl(path: str) -> list[dict]:
    """Rows of a JSONL file ([] if missing); PartialFile naming the first incomplete line."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise PartialFile(f"{os.path.basename(path)} line {number} is not complete JSON "
                                  "(partial write?)") from None
    return rows


def is_run_folder(path: str) -> bool:
    """Whether ``path`` holds any of a run's files."""
    return any(os.path.exists(os.path.join(path, m)) for m in RUN_MARKERS)


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """One run's folder; methods write or read the files listed in the module docstring."""

    path: str

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def holds_run(self) -> bool:
        """A run has started here (config.json exists)."""
        return os.path.exists(self.file(CONFIG))

    def write_config(self, cfg: Config) -> None:
        os.makedirs(self.path, exist_ok=True)
        with open(self.file(CONFIG), "w") as f:
            json.dump(dataclasses.asdict(cfg), f, indent=2)

    def read_config_dict(self) -> dict:
        """config.json as saved; ConfigError when the folder holds none."""
        raw = read_json(self.file(CONFIG))
        if raw is None:
            raise ConfigError(f"{self.path}: no {CONFIG} there; pass the folder of a run "
                              "started by experiments/run.py")
        return raw

    def read_config(self) -> Config:
        return config_from_dict(self.read_config_dict())

    def write_summary(self, summary: dict) -> None:
        with open(self.file(SUMMARY), "w") as f:
            json.dump(summary, f, indent=2)

    def read_summary(self) -> dict | None:
        return read_json(self.file(SUMMARY))

    def end_step(self) -> int | None:
        """Where the run ended: summary.json's env_steps, else stopped.json's, else None."""
        for name in (SUMMARY, STOPPED):
            try:
                record = read_json(self.file(name))
            except PartialFile:
                continue
            if record is not None and record.get("env_steps") is not None:
                return record["env_steps"]
        return None

    def write_failed(self, error: str, env_steps: int | None = None) -> None:
        os.makedirs(self.path, exist_ok=True)
        with open(self.file(FAILED), "w") as f:
            json.dump({"error": error, "env_steps": env_steps}, f, indent=2)

    def read_failed(self) -> dict | None:
        return read_json(self.file(FAILED))

    def clear_failed(self) -> None:
        if os.path.exists(self.file(FAILED)):
            os.remove(self.file(FAILED))

    def write_eval_table(self, table: str) -> None:
        with open(self.file(EVAL_TABLE), "w") as f:
            f.write(table + "\n")

    def read_evals(self) -> list[dict]:
        return read_jsonl(self.file(EVALS))

    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.file(METRICS))

    def task_names(self) -> list[str] | None:
        """The task names a run logged (summary.json, else its first evaluation), or None."""
        summary = self.read_summary()
        if summary and summary.get("task_names"):
            return list(summary["task_names"])
        for row in self.read_evals():
            if row.get("eval_success_per_task"):
                return list(row["eval_success_per_task"])
        return None

    def latest_checkpoint(self) -> int | None:
        return checkpoint.latest_step(self.path)

    def save_checkpoint(self, env_steps: int, state) -> None:
        checkpoint.save(self.path, env_steps, state)

    def check_network_format(self) -> None:
        """ConfigError if the latest checkpoint holds network parameters in the layout from
        before the networks were flax modules (which cannot be restored into today's)."""
        tree = checkpoint.stored_tree(self.path)
        actor = tree.get("sac", {}).get("actor") if isinstance(tree, dict) else None
        if isinstance(actor, dict) and "params" not in actor:
            raise ConfigError(f"--resume {self.path}: its checkpoint was written before the "
                              "networks became flax modules, and its parameter trees do not fit "
                              "this version's; start a new run (or resume it with the mtrl_jax "
                              "version that wrote it)")

    def restore_checkpoint(self, target):
        """The latest checkpoint in the structure of ``target``; ConfigError if it does not fit."""
        self.check_network_format()
        try:
            return checkpoint.restore(self.path, target)
        except Exception as err:  # orbax raises several types for a mismatched tree
            raise ConfigError(f"--resume {self.path}: its checkpoint does not fit this run's "
                              f"state ({type(err).__name__}); it was written by another config "
                              "or version. Start a new run instead.") from err

    def read_checkpoint(self) -> dict:
        """The latest checkpoint as nested dicts (``state['sac']['actor']`` etc.), without a
        target structure; ConfigError when there is none."""
        import orbax.checkpoint as ocp
        ckpt_dir = os.path.abspath(self.file(CHECKPOINTS))
        if not os.path.isdir(ckpt_dir):
            raise ConfigError(f"{self.path}: no {CHECKPOINTS}/ folder; the run has not saved a "
                              "checkpoint")
        mngr = ocp.CheckpointManager(ckpt_dir)
        try:
            step = mngr.latest_step()
            if step is None:
                raise ConfigError(f"{self.path}: {CHECKPOINTS}/ holds no complete checkpoint")
            return mngr.restore(step, args=ocp.args.StandardRestore())
        finally:
            mngr.close()

    def open_logger(self, cfg: Config, progress: bool | None = None):
        """The RunLogger that appends this run's metrics, evaluations and TensorBoard events
        (and W&B rows with ``cfg.wandb``)."""
        from mtrl_jax.logging import RunLogger
        return RunLogger(self.path, cfg.total_steps, 0,
                         cfg.progress if progress is None else progress, cfg.progress_every,
                         wandb_project=cfg.wandb, config=dataclasses.asdict(cfg))

    def clear(self) -> None:
        """Remove everything in the folder (a run that never completed a checkpoint)."""
        for name in os.listdir(self.path):
            path = self.file(name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
