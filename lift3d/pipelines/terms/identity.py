"""The identity term of ``lift3d edit``: a robust per-element penalty on departing from the source scene.

In the spirit of Vox-E ("Vox-E: Text-guided Voxel Editing of 3D Objects", Sella et al., arXiv 2303.12048), whose
volumetric regularizer (1 - Pearson correlation of the edited and source densities, weight 200) keeps an edit
close to the input object. Vox-E's refinement then reverts voxels outside the edit (cross-attention grids and a
graph cut); this term is a simpler documented scheme that lets the edit move what it needs in one pass:

For each tracked attribute ``a`` (Gaussians: means, base colour in RGB units, opacity; meshes: vertex positions
and vertex colours or texels; the texture rig: texels; fields: each raw parameter) and each element ``i``,
``d_i = ||x_i - x0_i||^2 / scale^2`` is the element's squared departure from the source value ``x0_i``, and the
term is ``weight x sum_a mean_i rho(d_i)`` with the Geman-McClure ``rho(d) = d / (1 + d)``. Near the source
(``d << 1``) it is the quadratic pull ``d``; an element the guidance drives further than ``scale`` pays a bounded
cost and feels a pull that falls as ``1 / (1 + d)^2``. So drift that the guidance does not insist on (noise, small
changes away from the edit) is pulled back, while elements the edit needs (where the guidance gradient is
consistently large) are free to move. It is zero at the source and its gradient points back toward the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lift3d.cameras import Cameras
from lift3d.types import RenderOutput

SH_C0 = 0.28209479177387814
"""Degree-0 SH constant: an ``sh0`` change of 1 is an RGB change of ``SH_C0``."""


@dataclass(frozen=True)
class IdentityConfig:
    """Weights of the identity term (``--identity.weight 0`` turns it off)."""

    weight: float = 100.0
    """Weight of the summed per-attribute means of ``rho``."""
    scale: float = 0.1
    """Departure (world units for positions, [0, 1] units for colours and opacities) at which the pull on an
    element peaks; beyond it the pull falls off so the edit can move the element."""


def tracked(rig: Any) -> dict[str, torch.Tensor]:
    """``{attribute: [N, k]}`` differentiable values of ``rig``'s scene that the term holds near the source."""
    from lift3d.scenes.gaussians import Gaussians
    from lift3d.scenes.mesh import Mesh

    scene = rig.scene
    if isinstance(scene, Gaussians):
        n = len(scene)
        return {"means": scene.means, "colour": scene.params["sh0"].reshape(n, -1) * SH_C0,
                "opacity": scene.opacities.reshape(n, 1)}
    if isinstance(scene, Mesh):
        out = {"vertices": scene.vertices} if scene.offsets.requires_grad else {}
        if scene.texture is not None:
            out["colour"] = scene.texture.reshape(-1, 3)
        else:
            out["colour"] = scene.colors
        return out
    return {name: p.reshape(-1, 1) for name, p in scene.named_parameters() if p.requires_grad}


def geman_mcclure(d: torch.Tensor) -> torch.Tensor:
    """``d / (1 + d)``: quadratic near 0, bounded by 1."""
    return d / (1.0 + d)


@dataclass
class IdentityTerm:
    """``weight x sum_a mean_i rho(||x_i - x0_i||^2 / scale^2)`` over :func:`tracked` attributes.

    Attributes:
        source: ``{attribute: [N, k]}`` the source's values (detached), what the checkpoints carry.
    """

    source: dict[str, torch.Tensor]
    weight: float = 100.0
    scale: float = 0.1
    name: str = "identity"

    @classmethod
    def capture(cls, rig: Any, config: IdentityConfig) -> IdentityTerm:
        """Hold ``rig`` near its current state."""
        return cls({k: v.detach().clone() for k, v in tracked(rig).items()}, config.weight, config.scale)

    @classmethod
    def restore(cls, saved: dict[str, Any], config: IdentityConfig) -> IdentityTerm:
        """The term of a resumed run, from its checkpoint's ``terms.identity``."""
        return cls(dict(saved["source"]), config.weight, config.scale)

    def departure(self, rig: Any) -> dict[str, torch.Tensor]:
        """``{attribute: [N]}`` each element's ``d_i`` (squared departure over ``scale^2``)."""
        now = tracked(rig)
        return {k: ((now[k] - x0.to(now[k])) ** 2).sum(-1) / self.scale ** 2 for k, x0 in self.source.items()}

    def losses(self, rig: Any, out: RenderOutput | None, cameras: Cameras | None, step: int) -> dict[str, torch.Tensor]:
        d = self.departure(rig)
        return {self.name: self.weight * sum(geman_mcclure(v).mean() for v in d.values())}

    def conditions(self, cameras: Cameras, background: tuple[float, float, float],
                   rng_state: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def state(self) -> dict[str, Any]:
        return {"source": self.source}


__all__ = ["IdentityConfig", "IdentityTerm", "geman_mcclure", "tracked"]
