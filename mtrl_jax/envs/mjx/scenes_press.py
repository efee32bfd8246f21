"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: button presses, handles, levers and the dial."""

from __future__ import annotations

from .scene_spec import PortSpec

PORT: dict[str, PortSpec] = {}
