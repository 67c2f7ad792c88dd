"""``lift3d view RUN_DIR | FILE [--compare RUN_DIR | FILE]``: serve the viewer until Ctrl-C (or ``--idle-timeout``
after the last page)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from lift3d.export.splats import SplatAxes


@dataclass(frozen=True)
class ViewConfig:
    """Orbit a run's scene (any checkpoint, any stage) or an exported splat/mesh file in the browser:
    lift3d view RUN_DIR|FILE [--compare RUN_DIR|FILE] [--port N] [--host ADDR] (the path may come first, without --path)."""

    path: Path
    """A run folder (from lift3d generate; a reconstruct run shows its exports), splats (3DGS .ply, .compressed.ply,
    .splat, .spz, .sog, a SOG folder or its meta.json, a KHR_gaussian_splatting .glb) or a .glb/.gltf/.obj/.ply mesh."""
    compare: Path | None = None
    """A second run folder or file, shown beside the first from the same camera (the page's compare menu)."""
    host: str = "127.0.0.1"
    """Address to listen on. Loopback by default; anything else (e.g. 0.0.0.0) exposes the viewer, with a warning,
    and requires the random token in the printed URL."""
    port: int = 7007
    """TCP port, 0-65535 (0: any free port)."""
    idle_timeout: float | None = None
    """Stop by itself this many seconds after the last page request (a page polls every second while open; the
    clock starts with the first request)."""
    splat_axes: SplatAxes = "z_up"
    """Axes of splat files: z_up for a run's export/splats.ply; y_down for files from 'lift3d export'."""


def main(argv: list[str], prog: str = "lift3d view") -> None:
    from lift3d.errors import parse_args
    from lift3d.types import LiftError
    from lift3d.viewer.server import ViewerServer, check_address
    from lift3d.viewer.sources import open_source

    cfg = parse_args(ViewConfig, _positional(argv), prog)
    check_address(cfg.host, cfg.port)  # a bad --host/--port fails before the scene loads
    source = open_source(cfg.path, cfg.splat_axes)
    compare = None
    if cfg.compare is not None:
        try:
            compare = open_source(cfg.compare, cfg.splat_axes)
        except LiftError as e:
            raise LiftError(f"--compare: {e}") from None
    server = ViewerServer(source, cfg.host, cfg.port, cfg.idle_timeout, compare=compare).start()
    print(f"viewer: {server.page_url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        print("viewer: stopped", file=sys.stderr)
    finally:
        server.close()


def _positional(argv: list[str]) -> list[str]:
    """The path may come first, positionally."""
    if argv and not argv[0].startswith("-"):
        return ["--path", argv[0], *argv[1:]]
    return argv
