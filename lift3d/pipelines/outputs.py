"""What a generate/reconstruct run leaves in its folder: validation grids, a turntable, the mesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lift3d.sampling import turntable

VALIDATION_VIEWS = 4


def image_grid(images: torch.Tensor, columns: int | None = None) -> np.ndarray:
    """``[B, H, W, 3]`` in [0, 1] -> one uint8 ``[rows*H, cols*W, 3]`` image."""
    B, H, W, _ = images.shape
    cols = columns or B
    rows = (B + cols - 1) // cols
    canvas = torch.ones(rows * H, cols * W, 3)
    for i in range(B):
        r, c = divmod(i, cols)
        canvas[r * H:(r + 1) * H, c * W:(c + 1) * W] = images[i].detach().float().cpu().clamp(0, 1)
    return (canvas.numpy() * 255).round().astype(np.uint8)


def _write_png(path: Path, image: np.ndarray) -> None:
    import io

    from PIL import Image

    from lift3d.files import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


@torch.no_grad()
def render_views(rig, cameras, background) -> torch.Tensor:
    """Deterministic renders ``[B, H, W, 3]`` (no jitter, fixed lighting)."""
    return rig.render(cameras.to(rig.scene_device), background, None).rgb


@torch.no_grad()
def save_validation(rig, run, step: int, stage) -> Path:
    """A row of renders from evenly spaced azimuths at elevation 20, plus their alpha, as one PNG."""
    cams = turntable(VALIDATION_VIEWS, stage.resolution * 2, elevation_deg=20.0).to(rig.scene_device)
    out = rig.render(cams, stage.background, None)
    grid = torch.cat([out.rgb, out.alpha.expand(-1, -1, -1, 3)], dim=0)
    path = run.media_dir / f"val_{step:06d}.png"
    _write_png(path, image_grid(grid, VALIDATION_VIEWS))
    return path


@torch.no_grad()
def write_turntable(rig, path: Path, frames: int, resolution: int, background, overwrite: bool = True) -> Path:
    """A turntable video written atomically by :func:`lift3d.export.video.save_video` (MP4; GIF when the
    ffmpeg backend is unavailable)."""
    from lift3d.export.video import save_video

    cams = turntable(frames, resolution, elevation_deg=20.0).to(rig.scene_device)
    with torch.no_grad():
        images = [image_grid(rig.render(cams[i], background, None).rgb) for i in range(frames)]
    try:
        return save_video(images, path, fps=12, overwrite=overwrite)
    except (OSError, RuntimeError):  # no ffmpeg backend: GIF is always available through Pillow
        return save_video(images, path.with_suffix(".gif"), fps=12, overwrite=overwrite)


def finish_run(rig, run, stage, frames: int, asset=None) -> list[Path]:
    """Turntable (none when ``frames`` is 0), exports (``asset``: :class:`lift3d.export.asset.AssetOptions`; None:
    no exports) and ``index.html``."""
    written = [write_turntable(rig, run.media_dir / "turntable.mp4", frames, max(64, stage.resolution * 2),
                               stage.background)] if frames > 0 else []
    if asset is not None:
        written += rig.export(run.path / "export", asset)
    from lift3d.viewer.static_page import write_run_page

    page = write_run_page(run.path)  # the self-contained page for sharing (mesh, splats, turntable)
    return written + ([page] if page is not None else [])
