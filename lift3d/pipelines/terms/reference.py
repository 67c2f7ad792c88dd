"""The reference-view term: RGB and mask MSE between the render from the reference camera and the reference
image, as Magic123 ("Magic123: One Image to High-Quality 3D Object Generation Using Both 2D and 3D Diffusion
Priors", arXiv 2306.17843) and DreamGaussian's image-to-3D (arXiv 2309.16653) hold a scene to its input image.
``reconstruct``'s optimization modes and the ``instant`` preset's first stage use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lift3d.cameras import Cameras
from lift3d.types import RenderOutput


@dataclass
class ReferenceTerm:
    """``rgb_weight x MSE(rgb) + mask_weight x MSE(alpha)`` at ``camera``.

    Attributes:
        reference: ``[R, R, 4]`` the image over white with its mask, on the rig's device.
        camera: the one camera it was seen from (``R x R``).
    """

    reference: torch.Tensor
    camera: Cameras
    rgb_weight: float = 1.0
    mask_weight: float = 1.0
    name: str = "reference"

    def losses(self, rig: Any, out: RenderOutput | None, cameras: Cameras | None, step: int) -> dict[str, torch.Tensor]:
        seen = rig.render(self.camera, (1.0, 1.0, 1.0), None)
        mse = torch.nn.functional.mse_loss
        return {self.name: self.rgb_weight * mse(seen.rgb[0], self.reference[..., :3]),
                f"{self.name}_mask": self.mask_weight * mse(seen.alpha[0], self.reference[..., 3:])}

    def conditions(self, cameras: Cameras, background: tuple[float, float, float],
                   rng_state: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def state(self) -> dict[str, Any]:
        return {"reference": self.reference}
