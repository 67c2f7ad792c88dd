"""The hook ``lift3d generate --viewer`` calls once per step, and the viewer it starts.

:meth:`LiveState.publish` only stores references and numbers (no copies, no locks, no rendering), so the
training loop pays nothing measurable for it; frames are rendered on the server's threads when a page
asks, with live refreshes capped to a small CPU share (:class:`lift3d.viewer.frames.FrameRenderer`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from lift3d.viewer.server import ViewerServer


class LiveState:
    """The newest training state, as the page sees it."""

    def __init__(self, run_dir: Path) -> None:
        self.media_dir = Path(run_dir) / "media"
        self.rig = None
        self.stage = 0
        self.step = 0
        self.loss = math.nan
        self.running = True

    def publish(self, stage: int, step: int, loss: float, rig) -> None:
        """Record the current stage index, global step, loss and the rig (its scene is rendered live)."""
        self.stage, self.step, self.loss, self.rig = stage, step, loss, rig

    def status(self) -> dict:
        vals = sorted(self.media_dir.glob("val_*.png")) if self.media_dir.is_dir() else []
        return {"stage": self.stage, "step": self.step, "loss": None if math.isnan(self.loss) else self.loss,
                "running": self.running, "validation": vals[-1].name if vals else None}


def start_live_viewer(run_dir: Path, host: str = "127.0.0.1", port: int = 7007) -> tuple[LiveState, ViewerServer]:
    """Start a viewer on the run folder whose first version is the live scene; prints its URL (with the token
    when ``host`` is not loopback: the same server, with the same checks, as ``lift3d view``)."""
    from lift3d.viewer.run_source import RunSource

    live = LiveState(run_dir)
    server = ViewerServer(RunSource(run_dir, live=live), host=host, port=port).start()
    print(f"viewer: {server.page_url} (live; stops with the run)", file=sys.stderr)
    return live, server
