"""Prompt embeddings with view-dependent selection (DreamFusion, arXiv 2209.14988, section 3).

A :class:`PromptEmbeddings` holds the encoded prompt, the empty prompt, an optional negative prompt
and optional per-view variants ("<prompt>, front view", ...). ``conditions(cameras)`` labels each
camera front/side/back/overhead with :func:`lift3d.sampling.view_labels` and builds
:class:`~lift3d.priors.base.Conditions` with the matching per-view text, the view-independent text
(for VSD's phi) and the negative prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lift3d.cameras import Cameras, position_to_spherical
from lift3d.priors.base import Conditions
from lift3d.priors.perp_neg import PerpNegConfig
from lift3d.sampling import View, view_labels


def view_prompt(prompt: str, view: View) -> str:
    """``"<prompt>, <view> view"`` as in DreamFusion/threestudio."""
    return f"{prompt}, {view.value} view"


@dataclass
class PromptEmbeddings:
    """Encoded prompts, each ``[1, ...]`` (``[1, L, D]`` text states, or ``[1]`` analytic indices).

    Attributes:
        text: the prompt itself (view-independent).
        uncond: the empty prompt.
        negative: an optional negative prompt.
        views: optional per-view embeddings; when set, ``conditions`` selects them by camera.
        front_threshold: azimuth half-width (degrees) of the front sector.
        back_threshold: azimuth half-width (degrees) of the back sector.
        overhead_threshold: elevation (degrees) above which a view is "overhead".
    """

    text: torch.Tensor
    uncond: torch.Tensor
    negative: torch.Tensor | None = None
    views: dict[View, torch.Tensor] | None = None
    front_threshold: float = 45.0
    back_threshold: float = 45.0
    overhead_threshold: float = 60.0

    @classmethod
    def encode(cls, encode: Callable[[Sequence[str]], torch.Tensor], prompt: str, negative: str | None = None,
               view_dependent: bool = True) -> PromptEmbeddings:
        """Encode ``prompt``, ``""``, the negative and the four view prompts in one ``encode`` call.

        Args:
            encode: maps N strings to ``[N, ...]`` embeddings (e.g. a CLIP text encoder + tokenizer).
        """
        views = list(View) if view_dependent else []
        texts = [prompt, ""] + ([negative] if negative is not None else []) + [view_prompt(prompt, v) for v in views]
        out = encode(texts)
        if out.shape[0] != len(texts):
            raise ValueError(f"encode returned {out.shape[0]} embeddings for {len(texts)} prompts")
        k = 3 if negative is not None else 2
        return cls(text=out[0:1], uncond=out[1:2], negative=out[2:3] if negative is not None else None,
                   views={v: out[k + i:k + i + 1] for i, v in enumerate(views)} or None)

    def select(self, cameras: Cameras | None, batch: int) -> torch.Tensor:
        """``[B, ...]`` text embeddings, view-dependent when ``views`` and ``cameras`` are given."""
        if self.views is None or cameras is None:
            return self.text.expand(batch, *self.text.shape[1:])
        elevation, azimuth, _ = position_to_spherical(cameras.c2w[:, :3, 3])
        labels = view_labels(elevation, azimuth, self.front_threshold, self.back_threshold, self.overhead_threshold)
        return torch.cat([self.views[label] for label in labels], dim=0)

    def conditions(self, cameras: Cameras | None = None, batch: int | None = None, perp_neg: PerpNegConfig | None = None,
                   **extra: torch.Tensor) -> Conditions:
        """Conditions for a batch (``batch`` defaults to ``len(cameras)``); ``extra`` sets other fields.

        With ``perp_neg`` the text is the azimuth-interpolated view prompt and ``views``/``view_weights``
        hold the Perp-Neg negatives (:mod:`lift3d.priors.perp_neg`); it needs view prompts and cameras.
        """
        if batch is None:
            if cameras is None:
                raise ValueError("pass cameras or batch")
            batch = len(cameras)
        if perp_neg is not None:
            return self._perp_neg_conditions(cameras, perp_neg, **extra)

        def rep(e: torch.Tensor | None) -> torch.Tensor | None:
            return None if e is None else e.expand(batch, *e.shape[1:])

        return Conditions(text=self.select(cameras, batch), uncond=rep(self.uncond), negative=rep(self.negative),
                          view_independent=rep(self.text), **extra)

    def _perp_neg_conditions(self, cameras: Cameras | None, cfg: PerpNegConfig, **extra: torch.Tensor) -> Conditions:
        from lift3d.priors.perp_neg import view_mixing

        if self.views is None or cameras is None:
            raise ValueError("Perp-Neg needs view-dependent prompt embeddings and cameras")
        _, azimuth, _ = position_to_spherical(cameras.c2w[:, :3, 3])
        mix, weights = view_mixing(azimuth.cpu(), cfg)
        views = torch.cat([self.views[View.FRONT], self.views[View.SIDE], self.views[View.BACK]], dim=0)  # [3, L, D]
        mix = mix.to(views)
        text = torch.einsum("bk,k...->b...", mix, views)
        batch = len(cameras)

        def rep(e: torch.Tensor | None) -> torch.Tensor | None:
            return None if e is None else e.expand(batch, *e.shape[1:])

        return Conditions(text=text, uncond=rep(self.uncond), negative=rep(self.negative),
                          view_independent=rep(self.text), views=views[None].expand(batch, *views.shape),
                          view_weights=weights.to(views.device), **extra)
