"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: doors, faucets, plate slides and box-close."""

from __future__ import annotations

from .scene_spec import PortSpec

PORT: dict[str, PortSpec] = {}
