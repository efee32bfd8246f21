"""Device groups: the sweep points that compile to one program (differing float fields are
traced, one value per row), and the padding of a row count to the device count."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from mtrl_jax.config import NON_PROGRAM_FIELDS, Config
from mtrl_jax.sweep.grid import Point, field_types


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
