"""Meta-World v3 task logic (v2 reward) for the MT50 family: two-part and tool tasks: assembly, disassemble, hammer, sticks, peg unplug, basketball, coffee mugs.

Re-derived from metaworld 3.1.1's ``envs/sawyer_*_v3.py`` as in ``tasks.py``."""

from __future__ import annotations

from .spec import TaskSpec

SPECS: dict[str, TaskSpec] = {}
