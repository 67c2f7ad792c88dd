"""Scenes: the parameters that are optimised (Gaussians, density grids, triplanes, meshes)."""

from lift3d.scenes.gaussians import GaussianLearningRates, Gaussians, SHSchedule  # noqa: F401
from lift3d.scenes.mesh import Mesh  # noqa: F401
