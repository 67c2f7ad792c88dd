"""A disk cache of prompt embeddings, one safetensors file per (model, prompt).

Text encoders (CLIP ViT-H, T5-XXL) are large and slow; a run re-encodes the same prompts (with view
suffixes) at every start. Files live under ``<root>/<sha256(model key)[:16]>/<sha256(prompt)[:32]>.safetensors``;
the model key names the model id, its revision (or a weights fingerprint for local folders) and the
encoder settings, so a new revision never reads stale embeddings. Writes are atomic (temp file +
rename) so concurrent runs cannot read half-written files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


def default_cache_dir() -> Path:
    """``$LIFT3D_CACHE/prompt_embeddings``, else ``~/.cache/lift3d/prompt_embeddings``."""
    root = os.environ.get("LIFT3D_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "lift3d") / "prompt_embeddings"


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


class EmbeddingCache:
    """Cache of ``[L, D]`` (or any-shape) embeddings of single prompts for one model.

    Args:
        root: cache folder.
        model_key: identifies model id + revision + encoder settings (see
            :func:`lift3d.priors.hub.model_fingerprint`).
    """

    def __init__(self, root: str | os.PathLike[str], model_key: str) -> None:
        self.model_key = model_key
        self.folder = Path(root).expanduser() / _digest(model_key, 16)

    def path(self, prompt: str) -> Path:
        """The file holding ``prompt``'s embeddings."""
        return self.folder / f"{_digest(prompt, 32)}.safetensors"

    def load(self, prompt: str) -> dict[str, torch.Tensor] | None:
        """Cached tensors for ``prompt``, or None when absent, unreadable or written for another model/prompt."""
        path = self.path(prompt)
        if not path.exists():
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            if meta.get("prompt") != prompt or meta.get("model") != self.model_key:
                return None
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError):
            return None

    def save(self, prompt: str, tensors: dict[str, torch.Tensor]) -> Path:
        """Write ``tensors`` for ``prompt`` atomically; returns the file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(prompt)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={"prompt": prompt, "model": self.model_key})
        os.replace(tmp, path)
        return path

    def get_or_compute(self, prompts: Sequence[str],
                       encode: Callable[[list[str]], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Tensors for all ``prompts`` stacked on dim 0; only the missing prompts are encoded (in one call).

        Args:
            prompts: N prompts.
            encode: maps a list of M prompts to a dict of ``[M, ...]`` tensors.

        Returns:
            dict of ``[N, ...]`` tensors on the CPU, float32 as encoded.
        """
        found = {p: self.load(p) for p in dict.fromkeys(prompts)}
        missing = [p for p, v in found.items() if v is None]
        if missing:
            fresh = encode(missing)
            for i, p in enumerate(missing):
                found[p] = {k: v[i].detach().cpu() for k, v in fresh.items()}
                self.save(p, found[p])
        keys = found[prompts[0]].keys()
        return {k: torch.stack([found[p][k] for p in prompts]) for k in keys}
