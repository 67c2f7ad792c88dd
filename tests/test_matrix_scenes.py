"""The combination matrix, part 1: every scene kind x every guidance on the bundled prior, as the first stage.

Each combination runs through ``generate`` (the CLI's entry point), is killed after a checkpoint, resumed, and
compared bit for bit with an uninterrupted run (tests/matrix_support.py). docs/generate.md lists the matrix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matrix_support import GUIDANCES, SCENES, STEPS, as_first_stage, base_config, check_exact

from lift3d.pipelines.prior_specs import BundledPriorSpec


@pytest.mark.parametrize("guidance", GUIDANCES)
@pytest.mark.parametrize("scene", SCENES)
def test_first_stage(scene: str, guidance: str, tiny_bundled_prior: Path, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = as_first_stage(base_config(BundledPriorSpec(tiny_bundled_prior), tmp_path), SCENES[scene],
                         GUIDANCES[guidance], tmp_path)
    check_exact(cfg, tmp_path, monkeypatch, kill_after=STEPS - 1)
