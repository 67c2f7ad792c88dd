"""What every rig is: the :class:`Rig` protocol, the :class:`SceneSpec` protocol of the configs that build rigs,
and the parts rigs share (regularizer weights, opacity terms, one-optimizer bookkeeping, the light).

The optimization loop (:func:`lift3d.pipelines.optimize.optimize`) talks to a scene only through this protocol;
a new scene kind is one file here (a spec dataclass with ``KIND`` and a rig class) and one entry in
:data:`lift3d.rigs.SCENES`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from lift3d.cameras import Cameras
from lift3d.export.asset import AssetOptions
from lift3d.scenes.shading import opacity_entropy, opacity_sparsity
from lift3d.types import RenderOutput


@dataclass(frozen=True)
class FixedLight:
    """A distant light and an ambient term, the light a prior was trained under (the bundled prior's procedural
    world: :attr:`lift3d.pipelines.prior_specs.BundledPriorSpec.light`)."""

    direction: tuple[float, float, float] = (0.48, 0.36, 0.8)
    """Towards the light, world frame (+Z up); the default is also the procedural world's, so a mesh stage looks the
    same under every prior."""
    ambient: float = 0.4


@runtime_checkable
class Rig(Protocol):
    """A scene (parameters), its renderer, its optimizer(s) and the scene-specific parts of a step.

    A rig owns everything that differs between scene kinds: how the scene renders (training renders may draw
    lights or jitter from ``generator``; ``None`` gives deterministic ones), its regularizers, the hooks around
    the optimizer step (densification, occupancy updates), its exact-resume state, and how it becomes an asset
    (mesh extraction, texture bake, splat files). It owns no loss from a prior and no cameras.
    """

    @property
    def scene_device(self) -> torch.device: ...

    def render(self, cameras: Cameras, background: tuple[float, float, float], generator: torch.Generator | None,
               step: int = 0) -> RenderOutput: ...

    def render_albedo(self, cameras: Cameras) -> RenderOutput: ...

    def regularize(self, out: RenderOutput) -> dict[str, torch.Tensor]: ...

    def before_step(self, step: int, generator: torch.Generator) -> None: ...

    def zero_grad(self) -> None: ...

    def before_backward(self, step: int, out: RenderOutput) -> None: ...

    def step(self, step: int, out: RenderOutput, cameras: Cameras) -> None: ...

    def state(self) -> dict: ...

    def load_state(self, state: dict) -> None: ...

    def rescale(self, centre: torch.Tensor, factor: float) -> None: ...

    def mesh(self) -> Any: ...

    def asset(self, target_faces: int = 20000, texture_size: int = 1024) -> Any: ...

    def export(self, directory: Path, options: AssetOptions | None = None) -> list[Path]: ...


class SceneSpec(Protocol):
    """A frozen config that builds a :class:`Rig`: fresh, from the previous stage's rig, or from a checkpoint."""

    KIND: str

    def build(self, generator: torch.Generator, device: torch.device, light: FixedLight | None = None) -> Rig: ...

    def build_from_previous(self, previous: Rig, generator: torch.Generator, device: torch.device,
                            light: FixedLight | None = None) -> Rig: ...

    def build_from_state(self, state: dict, generator: torch.Generator, device: torch.device,
                         light: FixedLight | None = None) -> Rig: ...

    def refines(self, previous: object) -> str | None: ...

    def cannot_start_fresh(self) -> str | None:
        """Why :meth:`build` cannot make this scene from nothing (None: it can)."""
        ...


@dataclass(frozen=True)
class Regularizers:
    """Weights of the scene regularizers; opacity terms are per pixel (summed over pixels, / views), so
    their weight is comparable to the guidance gradient per pixel."""

    sparsity: float = 0.0
    """Accumulated opacity (pushes empty space empty)."""
    entropy: float = 0.0
    """Binary entropy of accumulated opacity (pushes alpha to 0 or 1: against haze)."""
    orientation: float = 0.0
    """DreamFusion's normal-orientation penalty (fields only)."""
    total_variation: float = 0.0
    """Smoothness of grid/plane values (density grid and triplane, as Plenoxels, arXiv 2112.05131)."""


class OptimizerRig:
    """What a rig with one ``scene`` module and one ``optimizer`` does around a step (fields and meshes; the
    Gaussian rig also densifies, so it has its own)."""

    scene: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def before_backward(self, step: int, out: RenderOutput) -> None:
        """Nothing to retain."""

    def step(self, step: int, out: RenderOutput, cameras: Cameras) -> None:
        self.optimizer.step()

    def state(self) -> dict:
        return {"scene": self.scene.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state(self, state: dict) -> None:
        """Scene and, when the state has one (not a bare saved scene), optimizer."""
        self.scene.load_state_dict(state["scene"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])


def write_asset_or_warn(rig, directory: Path, options: AssetOptions | None = None) -> list[Path]:
    """``rig.asset(...)`` written by :func:`lift3d.export.asset.write_asset`; an empty scene only warns."""
    from lift3d.export.asset import write_asset

    options = options or AssetOptions()
    try:
        mesh = rig.asset(options.target_faces, options.texture_size)
    except ValueError as e:  # an empty scene has no surface
        print(f"warning: no mesh exported: {e}", file=sys.stderr)
        return []
    return write_asset(mesh, directory)


def opacity_terms(r: Regularizers, out: RenderOutput) -> dict[str, torch.Tensor]:
    """Sparsity and entropy of accumulated opacity, summed over pixels and averaged over views."""
    pixels = out.alpha.shape[1] * out.alpha.shape[2]
    losses = {}
    if r.sparsity:
        losses["sparsity"] = r.sparsity * opacity_sparsity(out.alpha) * pixels
    if r.entropy:
        losses["entropy"] = r.entropy * opacity_entropy(out.alpha) * pixels
    return losses


