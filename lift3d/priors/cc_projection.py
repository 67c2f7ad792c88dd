"""Zero123's camera projection: the Linear layer from ``[CLIP image embedding, relative pose]`` to the
cross-attention token ("Zero-1-to-3", Liu et al., arXiv 2303.11328).

Two diffusers layouts exist and both load with ``from_pretrained``: ``cc_projection/`` (kxic/zero123-xl,
the diffusers community pipeline: config ``in_channel``/``out_channel``, parameters ``projection.*``)
and ``clip_camera_projection/`` (ashawkey/zero123-xl-diffusers, ashawkey/stable-zero123-diffusers:
config ``embedding_dim``/``additional_embeddings``, parameters ``proj.*``). Kept apart from
:mod:`lift3d.priors.zero123` so importing the config classes does not import diffusers.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class CCProjection(ModelMixin, ConfigMixin):
    """``Linear(in_channel -> out_channel)``: ``[B, 1, D + 4]`` -> ``[B, 1, D']`` (772 -> 768 released)."""

    @register_to_config
    def __init__(self, in_channel: int = 772, out_channel: int = 768) -> None:
        super().__init__()
        self.projection = torch.nn.Linear(in_channel, out_channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


class CLIPCameraProjection(ModelMixin, ConfigMixin):
    """The same layer under the names of ashawkey's ports (``clip_camera_projection/``: ``embedding_dim``,
    ``additional_embeddings``, parameters ``proj.*``): ``Linear(embedding_dim + 4 -> embedding_dim)``."""

    @register_to_config
    def __init__(self, embedding_dim: int = 768, additional_embeddings: int = 4) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(embedding_dim + additional_embeddings, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


PROJECTION_FOLDERS = {"cc_projection": CCProjection, "clip_camera_projection": CLIPCameraProjection}
"""Subfolder name -> class, for the two diffusers layouts of Zero123 checkpoints."""
