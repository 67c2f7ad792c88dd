"""Model resolution (local folder, offline HF cache, one-line errors) and the prompt-embedding cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lift3d.priors.embedding_cache import EmbeddingCache
from lift3d.priors.hub import looks_like_hub_id, resolve_model
from lift3d.types import LiftError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_hf_cache(cache: Path, repo: str) -> Path:
    """The on-disk layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / COMMIT
    (snap / "unet").mkdir(parents=True)
    (snap / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (snap / "unet" / "config.json").write_text("{}")
    (snap / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    return snap


def test_hub_id_shapes() -> None:
    assert looks_like_hub_id("stabilityai/stable-diffusion-2-1-base")
    for spec in ("./models/sd", "/abs/sd", "~/sd", "sd", "a/b/c", "org/model.safetensors"):
        assert not looks_like_hub_id(spec)


def test_offline_resolution_reads_the_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = fake_hf_cache(tmp_path / "hub", "org/tiny-sd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_model("org/tiny-sd", required=("model_index.json", "unet/config.json")) == snap
    with pytest.raises(LiftError, match=r"lacks vae/config.json"):
        resolve_model("org/tiny-sd", required=("vae/config.json",))


def test_not_found_is_one_line_naming_places_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LiftError) as info:
        resolve_model("org/absent", what="MVDream prior", cache_dir=tmp_path / "hub")
    msg = str(info.value)
    assert "\n" not in msg
    for part in ("MVDream prior 'org/absent' not found", str((Path.cwd() / "org/absent").resolve()),
                 str(tmp_path / "hub"), "HF_HUB_OFFLINE", "hf download org/absent", "--prior PATH"):
        assert part in msg
    with pytest.raises(LiftError, match="existing local diffusers folder"):
        resolve_model(str(tmp_path / "no-such-dir"))


def test_pickle_only_folder_and_single_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "m" / "unet").mkdir(parents=True)
    (tmp_path / "m" / "model_index.json").write_text("{}")
    (tmp_path / "m" / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04")
    (tmp_path / "m" / "unet" / "config.json").write_text("{}")
    with pytest.raises(LiftError, match=r"unet/ has no safetensors weights \(only pickled diffusion_pytorch_model.bin\)"):
        resolve_model(tmp_path / "m", required=("model_index.json", "unet/config.json"))
    (tmp_path / "x.ckpt").write_bytes(b"\x80\x04")
    with pytest.raises(LiftError, match="is a file"):
        resolve_model(tmp_path / "x.ckpt")


def test_embedding_cache_keys_and_recovery(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def encode(prompts: list[str]) -> dict[str, torch.Tensor]:
        calls.append(prompts)
        return {"h": torch.stack([torch.full((2, 3), float(len(p))) for p in prompts])}

    cache = EmbeddingCache(tmp_path, "model-a|rev1")
    out = cache.get_or_compute(["ab", "", "ab", "abcd"], encode)
    assert calls == [["ab", "", "abcd"]] and out["h"].shape == (4, 2, 3)
    assert out["h"][3, 0, 0] == 4 and out["h"][1, 0, 0] == 0
    cache.get_or_compute(["abcd", "ab"], encode)
    assert len(calls) == 1  # served from disk
    EmbeddingCache(tmp_path, "model-a|rev2").get_or_compute(["ab"], encode)
    assert calls[-1] == ["ab"]  # another revision never reads the first one's files
    cache.path("ab").write_bytes(b"garbage")
    torch.testing.assert_close(cache.get_or_compute(["ab"], encode)["h"][0], torch.full((2, 3), 2.0))
    assert calls[-1] == ["ab"] and len(calls) == 3


def test_allow_patterns_fetch_component_weights_only() -> None:
    from fnmatch import fnmatch

    from lift3d.priors.hub import allow_patterns

    repo = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin",
            "text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors",
            "text_encoder/model-00001-of-00002.safetensors", "text_encoder/model.safetensors.index.json",
            "tokenizer/merges.txt", "tokenizer/spiece.model", "v2-1_512-ema-pruned.safetensors",
            "v2-1_512-ema-pruned.ckpt"]

    def fetched(variant: str | None) -> set[str]:
        return {f for f in repo if any(fnmatch(f, p) for p in allow_patterns(variant))}

    assert fetched(None) == {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                             "text_encoder/model.safetensors", "text_encoder/model-00001-of-00002.safetensors",
                             "text_encoder/model.safetensors.index.json", "tokenizer/merges.txt",
                             "tokenizer/spiece.model"}
    assert {f for f in fetched("fp16") if f.endswith(".safetensors")} == {
        "unet/diffusion_pytorch_model.fp16.safetensors", "text_encoder/model.fp16.safetensors"}


def test_lazy_exports_resolve_to_the_defining_modules() -> None:
    import importlib

    import lift3d.priors as priors

    for name, module in priors._LAZY.items():
        assert getattr(priors, name) is getattr(importlib.import_module(module), name), name
    with pytest.raises(AttributeError):
        priors.NotAPrior  # noqa: B018
