"""PNG frames for the page, with a cap on the CPU share of *live* refreshes.

A frame the user asked for (a drag, a zoom, another version) renders at once. A live refresh (the page
re-requesting the same view because the training step moved) is served from the last frame unless the
renderer has been idle for ``(1 - duty) / duty`` times the last render's duration, so watching a run
costs it at most about ``duty`` of the CPU (plus the other endpoints, which are cheap).
"""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import torch

from lift3d.viewer.modes import RenderMode
from lift3d.viewer.orbit import Orbit
from lift3d.viewer.source_base import Source


def encode_png(image: torch.Tensor) -> bytes:
    """``[H, W, 3]`` in [0, 1] -> PNG bytes (fast compression: frames are transient)."""
    from PIL import Image

    array = (image.detach().float().cpu().clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class FrameRenderer:
    """Renders one frame at a time (a lock keeps concurrent requests from piling up CPU work; the renderers of
    the two sources of a side-by-side view share one)."""

    def __init__(self, source: Source, duty: float = 0.03, lock: threading.Lock | None = None) -> None:
        self.source, self.duty = source, duty
        self._lock = lock or threading.Lock()
        self._last: tuple[tuple, bytes] | None = None
        self._last_end = 0.0
        self._last_cost = 0.0
        self.rendered = 0
        """How many frames were actually rendered (tests and the benchmark read it)."""

    def png(self, version: int, orbit: Orbit, live: bool = False, mode: RenderMode = "rgb") -> bytes:
        key = (version, orbit, mode)
        with self._lock:
            if live and self._last is not None and self._last[0] == key:
                idle = time.monotonic() - self._last_end
                if idle < self._last_cost * (1.0 - self.duty) / self.duty:
                    return self._last[1]
            start = time.monotonic()
            with torch.no_grad():
                image = self._render_retrying(version, orbit, mode)
            data = encode_png(image)
            self._last_end = time.monotonic()
            self._last_cost = self._last_end - start
            self._last = (key, data)
            self.rendered += 1
            return data

    def _render_retrying(self, version: int, orbit: Orbit, mode: RenderMode) -> torch.Tensor:
        """A live scene can change size under us (densification); one retry sees the new one."""
        try:
            return self.source.render(version, orbit, mode)
        except (RuntimeError, IndexError, ValueError):
            if not self.source.status():
                raise
            return self.source.render(version, orbit, mode)
