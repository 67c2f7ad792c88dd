"""Resolve a ``--prior`` argument (a Hugging Face hub id or a local folder) to a model folder on disk.

Rules:

* A path that exists is used as is (a diffusers-layout folder: ``model_index.json``, ``unet/`` ...).
* Anything else shaped like ``org/name`` is a hub id, fetched with
  :func:`huggingface_hub.snapshot_download`. With ``HF_HUB_OFFLINE=1`` (read when the call happens)
  only the local Hugging Face cache is searched (``local_files_only=True``).
* Only safetensors weights are fetched and read (``*.bin``/``*.ckpt`` pickles are never downloaded
  or unpickled).
* Whatever goes wrong ends in ONE :class:`~lift3d.types.LiftError` line: which model, where lift3d
  looked (the local path, the HF cache folder), and how to get it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lift3d.types import LiftError


def allow_patterns(variant: str | None = None) -> list[str]:
    """Files fetched from the hub: configs, tokenizer vocabularies/merges/spiece models and the per-component
    safetensors weights (``*model.safetensors``, sharded ``*model-*-of-*``), of ``variant`` (e.g. ``fp16``) if
    given. Single-file checkpoints at the repo root (e.g. ``v2-1_512-ema-pruned.safetensors``) are skipped."""
    v = f".{variant}" if variant else ""
    return ["*.json", "*.txt", "*.model", f"*model{v}.safetensors", f"*model{v}-*-of-*.safetensors"]


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set to a true value in the environment right now."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder (honours ``HF_HUB_CACHE`` / ``HF_HOME`` at call time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")).expanduser()
    return home / "hub"


def looks_like_hub_id(spec: str) -> bool:
    """``org/name`` with exactly one slash, no leading ``.``/``/``/``~`` and no backslash."""
    parts = spec.split("/")
    return (len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~"))
            and "\\" not in spec and not spec.endswith((".safetensors", ".ckpt", ".pt")))


def not_found_message(spec: str, what: str, detail: str = "", cache: Path | None = None) -> str:
    """The one-line explanation of a model that could not be found."""
    local = Path(spec).expanduser().resolve()
    cache = cache or hub_cache_dir()
    mode = "offline: HF_HUB_OFFLINE is set, no download tried" if hub_offline() else "download failed"
    how = (f"download it with `hf download {spec}` (or `huggingface-cli download {spec}`) on a machine with "
           f"internet, or pass a local diffusers folder with --prior PATH" if looks_like_hub_id(spec)
           else "pass a hub id such as stabilityai/stable-diffusion-2-1-base or an existing local diffusers folder")
    extra = f" ({detail})" if detail else ""
    return (f"{what} {spec!r} not found: looked in local path {local} (does not exist) and the Hugging Face "
            f"cache {cache} ({mode}){extra}; {how}.")


def check_folder(folder: Path, spec: str, what: str, required: Sequence[str]) -> Path:
    """Check that ``required`` relative paths exist in ``folder`` and that every required model component
    (a required ``<component>/config.json``) holds safetensors weights."""
    missing = [r for r in required if not (folder / r).exists()]
    if missing:
        raise LiftError(f"{what} folder {folder} (from {spec!r}) lacks {', '.join(missing)}: it is not a complete "
                        f"diffusers-layout model; re-download it or point --prior at the folder holding model_index.json.")
    for r in required:
        part = (folder / r).parent
        if Path(r).name == "config.json" and not any(part.glob("*.safetensors")):
            pickles = [p.name for p in part.iterdir() if p.suffix in (".bin", ".ckpt", ".pt", ".pth")]
            found = f" (only pickled {pickles[0]})" if pickles else ""
            raise LiftError(f"{what} {spec!r}: {part.relative_to(folder).as_posix() or '.'}/ has no safetensors "
                            f"weights{found}; lift3d never unpickles: use a repo that ships safetensors or convert "
                            f"the weights once (see docs/priors.md).")
    return folder


def resolve_model(spec: str | os.PathLike[str], what: str = "prior", required: Sequence[str] = ("model_index.json",),
                  revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                  variant: str | None = None) -> Path:
    """The local folder holding model ``spec``.

    Args:
        spec: a local folder, or a hub id such as ``stabilityai/stable-diffusion-2-1-base``.
        what: what the model is, for messages (e.g. ``"prior"``, ``"reward model"``).
        required: relative paths that must exist in the folder.
        revision: hub branch, tag or commit (ignored for local folders).
        cache_dir: hub cache folder override (default: the Hugging Face cache).
        variant: weights variant to fetch (``"fp16"``: the half-size files where the repo has them).

    Raises:
        LiftError: one line saying which model, where lift3d looked and how to get it.
    """
    text = os.fspath(spec)
    local = Path(text).expanduser()
    if local.is_dir():
        return check_folder(local, text, what, required)
    if local.exists():
        raise LiftError(f"{what} {text!r} is a file, not a folder: pass the diffusers-layout folder (the one holding "
                        f"model_index.json) or a hub id; single-file checkpoints are converted as in docs/priors.md.")
    if not looks_like_hub_id(text):
        raise LiftError(not_found_message(text, what))
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(text, revision=revision, cache_dir=cache_dir or hub_cache_dir(),
                                   allow_patterns=allow_patterns(variant), local_files_only=hub_offline())
    except Exception as e:  # noqa: BLE001 - every hub failure becomes the same one-line user error
        raise LiftError(not_found_message(text, what, type(e).__name__, Path(cache_dir or hub_cache_dir()))) from None
    return check_folder(Path(folder), text, what, required)


def model_fingerprint(folder: Path, parts: Sequence[str] = ("text_encoder",)) -> str:
    """A string that changes when the weights in ``parts`` change (path, sizes and mtimes of safetensors files).

    Hub snapshots live under ``snapshots/<commit>/`` so the path already names the revision.
    """
    items = [str(folder.resolve())]
    for part in parts:
        for f in sorted((folder / part).glob("*.safetensors")):
            st = f.stat()
            items.append(f"{part}/{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(items)
