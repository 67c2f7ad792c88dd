"""Zero123's ``cc_projection``: the Linear layer from ``[CLIP image embedding, relative pose]`` to the
cross-attention token ("Zero-1-to-3", Liu et al., arXiv 2303.11328).

A diffusers ``ModelMixin`` with the config keys (``in_channel``, ``out_channel``) and parameter names
(``projection.weight``, ``projection.bias``) of the Zero123 diffusers ports, so their
``cc_projection/`` folder loads with ``from_pretrained``. Kept apart from :mod:`lift3d.priors.zero123`
so importing the config classes does not import diffusers.
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
