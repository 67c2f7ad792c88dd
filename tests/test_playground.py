"""The 2D playground writes a progress grid whose last snapshot matches the analytic target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lift3d.guidance import SDSConfig, TimestepSchedule, VSDConfig
from lift3d.pipelines.playground import PlaygroundConfig, PlaygroundPrior, run_playground


def rows_of(path: Path, r: int, n_rows: int) -> list[np.ndarray]:
    img = np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 255
    scale = max(1, 256 // r)
    img = img[::scale, ::scale]
    return [img[i * (r + 1):i * (r + 1) + r] for i in range(n_rows)]


def test_playground_point_mass_reaches_target(tmp_path: Path) -> None:
    cfg = PlaygroundConfig(guidance=SDSConfig(guidance_scale=1.0, timesteps=TimestepSchedule(0.02, 0.9)),
                           resolution=8, num_images=2, steps=150, lr=0.1, snapshots=3, out=tmp_path)
    path = run_playground(cfg)
    assert path.exists()
    first, _, last, target = rows_of(path, 8, 4)
    err_first = np.abs(first[:, :8] - target[:, :8]).mean()
    err_last = np.abs(last[:, :8] - target[:, :8]).mean()
    assert err_last < 0.03 < err_first
    assert np.abs(last[:, 9:17] - target[:, :8]).mean() < 0.03  # second image too


def test_playground_multiview_and_tiny_unet_run(tmp_path: Path) -> None:
    mv = run_playground(PlaygroundConfig(guidance=SDSConfig(guidance_scale=1.0), prior=PlaygroundPrior.MULTIVIEW,
                                         resolution=8, steps=60, lr=0.1, snapshots=2, out=tmp_path / "mv"))
    first, last, target = rows_of(mv, 8, 3)
    errs = [np.abs(last[:, 9 * v:9 * v + 8] - target[:, 9 * v:9 * v + 8]).mean() for v in range(4)]
    assert max(errs) < np.abs(first[:, :8] - target[:, :8]).mean()  # every view moves toward its own target
    unet = run_playground(PlaygroundConfig(guidance=VSDConfig(), prior=PlaygroundPrior.TINY_UNET, resolution=8,
                                           num_images=1, steps=2, snapshots=2, out=tmp_path / "unet"))
    assert unet.exists()
