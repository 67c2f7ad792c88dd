"""The self-contained ``index.html`` written next to each result: the GLB and the splats in an orbiting
three.js view, and the turntable video, in one file that opens from disk (no server, no network).

The JavaScript (three.js, its glTF loader and orbit controls, and our splat sprites) comes from npm,
pinned by ``tools/viewer/package-lock.json``, bundled by esbuild into ``web/static_bundle.js`` (committed,
so a pip-installed lift3d writes pages without node). The assets are inlined as base64.
"""

from __future__ import annotations

import base64
import html
import json
import os
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from lift3d.export.splats import AXES, SH_C0, SplatAxes
from lift3d.types import LiftError

MAX_SPLATS = 200_000
"""Splats beyond this many (smallest ``volume * opacity`` first) are left out of the page."""
MAX_VIDEO_BYTES = 32 << 20
"""Larger videos are linked (relative path) instead of inlined."""

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · lift3d</title>
<style>
  body {{ margin: 0; padding: 12px; font: 14px system-ui, sans-serif; background: #1e1f22; color: #ddd; }}
  main {{ display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }}
  #view {{ width: 512px; height: 512px; border-radius: 4px; touch-action: none; background: #fff; }}
  video, #turntable {{ width: 384px; border-radius: 4px; background: #fff; }}
  #error {{ color: #f88; }}
</style>
</head>
<body>
<h3>{title}</h3>
<main>
  <section>
    <canvas id="view" data-frames="0"></canvas>
    <div><button data-show="mesh" hidden>mesh (GLB)</button> <button data-show="splats" hidden>splats</button>
      <small>drag to orbit · wheel to zoom · right-drag to pan</small></div>
    <div id="error"></div>
  </section>
  <section>{video}</section>
</main>
<script id="lift3d-data" type="application/json">{data}</script>
<script>{bundle}</script>
</body>
</html>
"""


def bundle_js() -> str:
    """The bundled viewer JavaScript (three.js included)."""
    return files("lift3d.viewer").joinpath("web", "static_bundle.js").read_text(encoding="utf-8")


def splat_payload(path: Path, axes: SplatAxes = "z_up") -> dict:
    """A 3DGS .ply/.splat as the page's compact arrays: +Y-up float32 positions, RGBA bytes, 3-sigma radii."""
    from lift3d.export.splats import load_3dgs_ply, load_splat

    try:
        data = load_splat(path, axes) if path.suffix.lower() == ".splat" else load_3dgs_ply(path, axes)
    except LiftError:
        raise
    except Exception as e:
        raise LiftError(f"cannot read {path} as splats ({type(e).__name__}: {e}); the file may be corrupt") from None
    opacity = torch.sigmoid(data.opacity_logits.float())
    scale = data.log_scales.float().exp()
    keep = torch.argsort(-(scale.prod(-1) * opacity), stable=True)[:MAX_SPLATS]
    means = data.means.float()[keep] @ torch.as_tensor(AXES["y_up"], dtype=torch.float32).T
    rgba = torch.cat([(SH_C0 * data.sh[keep, 0].float() + 0.5).clamp(0, 1), opacity[keep, None]], dim=1)
    return {
        "count": len(keep),
        "positions": _b64(means.numpy().astype("<f4")),
        "colors": _b64((rgba * 255 + 0.5).to(torch.uint8).numpy()),
        "radii": _b64(scale[keep].max(-1).values.numpy().astype("<f4")),
    }


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _video_tag(video: Path | None, page_dir: Path) -> str:
    if video is None or not video.is_file():
        return ""
    suffix = video.suffix.lower()
    mime = {".mp4": "video/mp4", ".webm": "video/webm", ".gif": "image/gif"}.get(suffix, "application/octet-stream")
    if video.stat().st_size <= MAX_VIDEO_BYTES:
        src = f"data:{mime};base64,{base64.b64encode(video.read_bytes()).decode('ascii')}"
    else:
        src = html.escape(os.path.relpath(Path(video).resolve(), page_dir.resolve()))
    if suffix == ".gif":
        return f'<div>turntable</div><img id="turntable" alt="turntable" src="{src}">'
    return f'<div>turntable</div><video id="turntable" controls loop muted autoplay playsinline src="{src}"></video>'


def write_static_page(path: Path, title: str, glb: Path | None = None, splats: Path | None = None,
                      video: Path | None = None, splat_axes: SplatAxes = "z_up") -> Path:
    """Write ``path`` (an ``index.html``) showing whichever of ``glb``, ``splats`` and ``video`` exist."""
    from lift3d.files import atomic_write_text

    path = Path(path)
    glb = glb if glb is not None and Path(glb).is_file() else None
    splats = splats if splats is not None and Path(splats).is_file() else None
    if glb is None and splats is None and (video is None or not Path(video).is_file()):
        raise LiftError(f"nothing to put in {path}: no GLB, splat file or video found")
    payload = {
        "title": title,
        "glb": base64.b64encode(Path(glb).read_bytes()).decode("ascii") if glb is not None else None,
        "splats": splat_payload(Path(splats), splat_axes) if splats is not None else None,
        "initial": "mesh" if glb is not None else "splats",
    }
    data = json.dumps(payload).replace("</", "<\\/")  # never close the <script> early
    page = _TEMPLATE.format(title=html.escape(title), video=_video_tag(video, path.parent), data=data,
                            bundle=bundle_js().replace("</script", "<\\/script"))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path


def write_run_page(run_dir: Path, title: str | None = None) -> Path | None:
    """``run_dir/index.html`` from the run's ``export/mesh.glb``, ``export/splats.ply`` and turntable; None
    when the run exported nothing to show. The title defaults to the run's prompt (or folder name)."""
    run_dir = Path(run_dir)
    title = title or _run_title(run_dir)
    media = run_dir / "media"
    video = next((p for p in (media / "turntable.mp4", media / "turntable.gif") if p.is_file()), None)
    glb, splats = run_dir / "export" / "mesh.glb", run_dir / "export" / "splats.ply"
    if not (glb.is_file() or splats.is_file() or video is not None):
        return None
    return write_static_page(run_dir / "index.html", title, glb, splats, video)


def _run_title(run_dir: Path) -> str:
    try:
        prompt = json.loads((run_dir / "config.json").read_text())["config"]["prompt"]
    except (OSError, ValueError, KeyError, TypeError):
        prompt = None
    return prompt if isinstance(prompt, str) and prompt.strip() else run_dir.name
