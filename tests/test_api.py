"""The public Python API (``lift3d/__init__.py``): lazy, complete, and the same defaults as the CLI."""

from __future__ import annotations

import subprocess
import sys

import lift3d


def test_import_is_lazy() -> None:
    code = "import sys, lift3d; assert 'torch' not in sys.modules; lift3d.GenerateConfig; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_resolves() -> None:
    for name in lift3d.__all__:
        assert getattr(lift3d, name) is not None, name


def test_the_default_config_is_the_cli_default() -> None:
    from lift3d.pipelines.inits import SampleReconstruct

    assert lift3d.GenerateConfig() == lift3d.PRESETS["default"] == lift3d.PRESETS["instant"]
    assert isinstance(lift3d.GenerateConfig().init, SampleReconstruct)
