import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One torch thread per test process: `make test` runs one pytest worker per core (pytest-xdist), and
# oversubscribed threads were measured 10x+ slower on small tensors.
torch.set_num_threads(1)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "gpu" in item.keywords and not torch.cuda.is_available():
        pytest.skip("needs CUDA")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_bundled_prior(tmp_path_factory: pytest.TempPathFactory):
    """A randomly initialised bundled-prior folder (16 px) in the shipped layout."""
    from lift3d.priors.bundled import BundledArchitecture, build_tokenizer, caption_vocabulary, save_bundled

    torch.manual_seed(0)
    arch = BundledArchitecture(resolution=16, block_out_channels=(16, 32), text_dim=32, text_layers=1)
    tok = build_tokenizer(caption_vocabulary(), arch.max_tokens)
    path = tmp_path_factory.mktemp("bundled") / "prior"
    save_bundled(path, arch.unet(), arch.text_encoder(len(tok)), tok, arch.scheduler())
    return path
