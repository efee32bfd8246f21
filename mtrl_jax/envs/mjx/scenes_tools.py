"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: two-part and tool tasks."""

from __future__ import annotations

from .scene_spec import PortSpec

PORT: dict[str, PortSpec] = {}
