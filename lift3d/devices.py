"""Which torch device a run uses."""

from __future__ import annotations

import torch

from lift3d.types import LiftError


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``; one line when CUDA is asked for and missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LiftError("--device cuda requested but CUDA is not available; use --device cpu")
    return torch.device(name)
