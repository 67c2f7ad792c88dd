"""lift3d: text and images to 3D assets.

The public Python API mirrors the command line; names load lazily, so ``import lift3d`` stays instant (torch is
imported by the first name used)::

    import lift3d

    runs = lift3d.generate(lift3d.GenerateConfig(prompt="a red cube"))      # = lift3d generate "a red cube"
    run = lift3d.reconstruct(lift3d.ReconstructConfig(image=Path("cube.png")))
    files = lift3d.export(lift3d.ExportConfig(scene=runs[0], format="glb"))
    cfg = lift3d.PRESETS["dreamfusion"]                                     # = --preset dreamfusion
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES: dict[str, tuple[str, str]] = {
    "generate": ("lift3d.pipelines.generate", "generate"),
    "GenerateConfig": ("lift3d.pipelines.generate_config", "GenerateConfig"),
    "StageConfig": ("lift3d.pipelines.generate_config", "StageConfig"),
    "PRESETS": ("lift3d.pipelines.presets", "PRESETS"),
    "reconstruct": ("lift3d.pipelines.reconstruct", "reconstruct"),
    "ReconstructConfig": ("lift3d.pipelines.reconstruct", "ReconstructConfig"),
    "export": ("lift3d.export.cli", "run_export"),
    "ExportConfig": ("lift3d.export.cli", "ExportConfig"),
    "load_generate_run": ("lift3d.pipelines.load", "load_generate_run"),
    "evaluate_run": ("lift3d.pipelines.evaluate", "evaluate_run"),
    "Cameras": ("lift3d.cameras", "Cameras"),
    "LiftError": ("lift3d.types", "LiftError"),
}
"""Public name -> (module, attribute), imported on first use."""

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'lift3d' has no attribute {name!r}")
    module, attribute = _NAMES[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
