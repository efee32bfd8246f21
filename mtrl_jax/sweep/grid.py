"""The sweep grid: config values parsed from the command line or a spec file, and the points
(one algo and one value per grid field) they expand to."""

from __future__ import annotations

import itertools
import json
import re
import typing
from dataclasses import dataclass
from typing import Any, Literal

from mtrl_jax.config import Config, ConfigError
from mtrl_jax.methods import METHODS


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
        if algo not in METHODS:
            raise ConfigError(f"unknown algo {algo!r} in --algos: choose from "
                              f"{', '.join(METHODS)}")
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
