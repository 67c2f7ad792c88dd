"""Feed-forward inference of the bundled reconstruction model: load it, lift one prepared image to Gaussians."""

from __future__ import annotations

from pathlib import Path

import torch

from lift3d.scenes.gaussians import Gaussians
from lift3d.types import LiftError


def load_model(path: Path | None, device: torch.device):
    """The reconstruction model from ``path`` (default: the shipped one)."""
    from lift3d.recon.model import TriplaneGaussianModel
    from lift3d.recon.train import RECON_TINY_DIR

    path = Path(path) if path is not None else RECON_TINY_DIR
    if not (path / "config.json").is_file():
        raise LiftError(f"no reconstruction model at {path}; train one with `lift3d train-recon --export-to {path}`")
    return TriplaneGaussianModel.from_pretrained(path).to(device).eval()


def feedforward(model, rgba: torch.Tensor) -> Gaussians:
    """Model Gaussians from one prepared RGBA image ``[S, S, 4]`` (resized to the model's input size)."""
    size = model.config.image_size
    if rgba.shape[0] != size:
        x = rgba.permute(2, 0, 1)[None]
        rgba = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)[0].permute(1, 2, 0)
    return model.predict(rgba[None])[0]


def at_elevation(scene: Gaussians, elevation: float) -> Gaussians:
    """Feed-forward Gaussians for an input seen from ``elevation`` rather than the canonical camera.

    The model predicts in the canonical input camera's frame; rotating by
    :func:`lift3d.recon.camera.elevation_rotation` (about the origin, so the object stays centred; means,
    orientations and SH colour) makes the camera at ``elevation`` see what the canonical camera saw, so an
    object photographed upright from that elevation comes out upright in the world.
    """
    from lift3d.export.splats import SplatData
    from lift3d.recon.camera import INPUT_ELEVATION, elevation_rotation

    if elevation == INPUT_ELEVATION:
        return scene
    rotated = SplatData.from_gaussians(scene).rotated(elevation_rotation(elevation).numpy())
    return rotated.to_gaussians(scene.isotropic).to(scene.means.device)
