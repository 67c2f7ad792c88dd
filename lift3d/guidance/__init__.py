"""Guidance losses: renders + a frozen diffusion prior -> one differentiable loss.

Adding a loss = one file (frozen config dataclass with ``build(prior)`` + a :class:`Guidance` subclass,
paper cited) + one entry in :data:`GUIDANCES`; the contract test covers it automatically.
"""

from __future__ import annotations

from lift3d.config import choice
from lift3d.guidance.base import Guidance, GuidanceOutput
from lift3d.guidance.csd import CSD, CSDConfig
from lift3d.guidance.dds import DDS, DDSConfig
from lift3d.guidance.functional import Anneal, TimestepSchedule, Weighting, cfg
from lift3d.guidance.nfsd import NFSD, NFSDConfig
from lift3d.guidance.reward import RewardConfig, RewardGuidance, RewardStrategy
from lift3d.guidance.sds import SDS, SDSConfig
from lift3d.guidance.sjc import SJC, SJCConfig
from lift3d.guidance.vsd import VSD, PhiKind, VSDConfig

GUIDANCES = (SDSConfig, VSDConfig, NFSDConfig, DDSConfig, SJCConfig, CSDConfig, RewardConfig)
"""Every guidance config class; a Union of them is a tyro subcommand choice."""

GuidanceConfig = choice(*GUIDANCES)
"""Any guidance config (tyro turns this Union into subcommands)."""

__all__ = [
    "CSD", "CSDConfig", "DDS", "DDSConfig", "GUIDANCES", "Anneal", "Guidance", "GuidanceConfig", "GuidanceOutput",
    "NFSD", "NFSDConfig", "PhiKind", "RewardConfig", "RewardGuidance", "RewardStrategy", "SDS", "SDSConfig", "SJC", "SJCConfig",
    "TimestepSchedule", "VSD", "VSDConfig", "Weighting", "cfg",
]
