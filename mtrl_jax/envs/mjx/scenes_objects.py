"""MJX port scenes (``PortSpec``s, see ``scene.py``) for the MT50 family: free objects pushed, picked or placed."""

from __future__ import annotations

from .scene_spec import PortSpec

PORT: dict[str, PortSpec] = {}
