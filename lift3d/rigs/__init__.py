"""Rigs: one per scene kind, everything the optimization loop needs from a scene.

A *rig* owns a scene's parameters, its renderer, its optimizer(s), the hooks around a step (densification,
occupancy grids), its regularizers, its exact-resume state and its conversion to an asset; the typed contract is
:class:`lift3d.rigs.base.Rig`. A *scene spec* (:class:`lift3d.rigs.base.SceneSpec`) is the frozen config that
builds one: fresh, from the previous stage, or from a checkpoint. Rigs know nothing of priors, guidance, cameras
or runs; docs/architecture.md says how to add one.

* :mod:`lift3d.rigs.field`: density grid, hash grid, triplane (volume rendering).
* :mod:`lift3d.rigs.gaussians`: 3D Gaussian splats (DreamGaussian's stage 1).
* :mod:`lift3d.rigs.mesh`: a triangle mesh refined from a coarse stage (Magic3D's stage 2).
* :mod:`lift3d.rigs.texture`: a fixed mesh with an optimized UV texture (``lift3d texture``).
"""

from __future__ import annotations

from lift3d.config import choice
from lift3d.rigs.base import FixedLight, Regularizers, Rig, SceneSpec
from lift3d.rigs.field import BLOB, FieldRig, FieldScene
from lift3d.rigs.gaussians import GaussianRig, GaussianScene
from lift3d.rigs.mesh import MeshRig, MeshScene
from lift3d.rigs.texture import TextureRig, TextureScene

SCENES = (FieldScene, GaussianScene, MeshScene, TextureScene)
"""Every scene spec; a new scene kind is one file and one entry here."""

SceneConfig = choice(*SCENES)
"""Any scene spec (tyro subcommands ``stage.scene:field/gaussians/mesh``)."""

__all__ = ["BLOB", "SCENES", "FieldRig", "FieldScene", "FixedLight", "GaussianRig", "GaussianScene", "MeshRig",
           "MeshScene", "Regularizers", "Rig", "SceneConfig", "SceneSpec", "TextureRig", "TextureScene"]
