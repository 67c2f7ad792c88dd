"""Terms that keep the stages of an ``init-sample`` run near the prior's samples (the ``instant`` preset).

* **Reference view** (:attr:`SampleReconstruct.reference_weight`, first stage only): the RGB and mask MSE between
  the render from the feed-forward model's input camera and the chosen sample (Magic123, arXiv 2306.17843;
  DreamGaussian's image-to-3D, arXiv 2309.16653).
* **Consensus silhouettes** (:attr:`SampleReconstruct.consensus`, every stage): the mask MSE between each step's
  renders and the per-pixel majority of the ``consensus`` best-scored lifts' silhouettes from the same cameras.
  A prompt names a family, not an instance: each sample of the prior is one instance, with its own proportions.
  Under a per-pixel 0/1 loss the majority (median) of several samples is the Bayes estimate of the silhouette,
  nearer the family's typical shape than any one of them (the same argument as minimum Bayes-risk decoding,
  Kumar and Byrne, HLT-NAACL 2004, taken per pixel instead of per candidate). On the world's own instances
  (exact renders of 16 seeds per benchmark family, docs/generate.md) the majority of 4 scores IoU 0.862 with the
  canonical shape where single instances score 0.806; on the lifted candidates of the benchmark prompts the
  majority of the top 3-5 scores 0.860 where the chosen one scores 0.842 (both after size normalization).

Both travel in the checkpoints (:meth:`SampleTerms.state`), so an interrupted run resumes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lift3d.scenes.gaussians import Gaussians

CONSENSUS_KEY = "consensus"
REFERENCE_KEY = "reference"


def stack_scenes(scenes: list[Gaussians]) -> dict[str, torch.Tensor]:
    """``{attribute: [K, N, ...]}`` of ``K`` Gaussians with the same count (the feed-forward model's lifts)."""
    return {k: torch.stack([s.params[k].detach() for s in scenes]) for k in scenes[0].params}


def unstack_scenes(stacked: dict[str, torch.Tensor]) -> list[Gaussians]:
    """Inverse of :func:`stack_scenes`."""
    count = stacked["means"].shape[0]
    return [Gaussians(stacked["means"][i], stacked["quats"][i], stacked["scales"][i], stacked["opacities"][i],
                      stacked["sh0"][i], stacked["shN"][i], isotropic=stacked["scales"].shape[-1] == 1)
            for i in range(count)]


def majority(alphas: torch.Tensor) -> torch.Tensor:
    """Per pixel, 1 where the mean of ``alphas [K, ...]`` (K silhouettes of the same views) exceeds 1/2, else 0."""
    mean = alphas.mean(0)
    return (mean > 0.5).to(mean.dtype)


@torch.no_grad()
def majority_silhouettes(scenes: list[Gaussians], cameras, renderer=None) -> torch.Tensor:
    """``[B, H, W, 1]``: the :func:`majority` of the alphas of ``scenes`` seen from ``cameras``."""
    from lift3d.renderers.gaussians import GaussianRenderer

    renderer = renderer or GaussianRenderer()
    white = torch.ones(3, device=scenes[0].means.device)
    return majority(torch.stack([renderer(s, cameras, white).alpha for s in scenes]))


def reference_losses(rig: Any, reference: torch.Tensor, weight: float) -> dict[str, torch.Tensor]:
    """``weight`` x the RGB and mask MSE of ``rig``'s render from the input camera against ``reference [R, R, 4]``."""
    from lift3d.recon.camera import input_camera

    out = rig.render(input_camera(reference.shape[0]).to(reference.device), (1.0, 1.0, 1.0), None)
    return {"reference": weight * torch.nn.functional.mse_loss(out.rgb[0], reference[..., :3]),
            "reference_mask": weight * torch.nn.functional.mse_loss(out.alpha[0], reference[..., 3:])}


@dataclass
class SampleTerms:
    """The reference-view and consensus terms of one run (module docstring); either may be off (None)."""

    reference: torch.Tensor | None = None
    """``[R, R, 4]`` the chosen sample over white with its mask."""
    reference_weight: float = 0.0
    consensus: dict[str, torch.Tensor] | None = None
    """The consensus lifts, stacked (:func:`stack_scenes`), best-scored first."""
    consensus_weight: float = 0.0
    _scenes: list[Gaussians] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.reference is not None or self.consensus is not None

    def losses(self, rig: Any, alpha: torch.Tensor, cameras, stage_index: int) -> dict[str, torch.Tensor]:
        """The terms for one step: ``alpha [B, H, W, 1]`` is the rig's render from ``cameras``."""
        losses = {}
        if self.reference is not None and stage_index == 0:
            losses.update(reference_losses(rig, self.reference, self.reference_weight))
        if self.consensus is not None:
            if self._scenes is None:
                self._scenes = unstack_scenes(self.consensus)
            target = majority_silhouettes(self._scenes, cameras.to(alpha.device))
            losses["consensus"] = self.consensus_weight * torch.nn.functional.mse_loss(alpha, target)
        return losses

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the terms (the weights come from the run's config)."""
        return {**({} if self.reference is None else {REFERENCE_KEY: self.reference}),
                **({} if self.consensus is None else {CONSENSUS_KEY: self.consensus})}

    @classmethod
    def from_state(cls, state: dict[str, Any], cfg: Any, device: torch.device) -> SampleTerms:
        """The terms saved in a checkpoint ``state`` of a run configured with ``cfg`` (a ``SampleReconstruct``)."""
        reference, consensus = state.get(REFERENCE_KEY), state.get(CONSENSUS_KEY)
        return cls(None if reference is None else reference.to(device), cfg.reference_weight,
                   None if consensus is None else {k: v.to(device) for k, v in consensus.items()},
                   cfg.consensus_weight)


__all__ = ["SampleTerms", "majority", "majority_silhouettes", "reference_losses", "stack_scenes", "unstack_scenes"]
