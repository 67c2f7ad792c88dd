"""The combination matrix, part 2: every scene kind x every guidance on the bundled prior, as a refine stage.

A field refines the first stage's field (same settings); Gaussians and meshes refine any first stage (here a
density grid). The run is killed during the refine stage (after its second step), resumed and compared bit
for bit with an uninterrupted run, and with it at the step before the kill (tests/matrix_support.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matrix_support import GUIDANCES, SCENES, STEPS, as_refine_stage, base_config, check_exact

from lift3d.pipelines.prior_specs import BundledPriorSpec


@pytest.mark.parametrize("guidance", GUIDANCES)
@pytest.mark.parametrize("scene", SCENES)
def test_refine_stage(scene: str, guidance: str, tiny_bundled_prior: Path, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = as_refine_stage(base_config(BundledPriorSpec(tiny_bundled_prior), tmp_path), SCENES[scene],
                          GUIDANCES[guidance])
    check_exact(cfg, tmp_path, monkeypatch, kill_after=1 + STEPS - 1)
