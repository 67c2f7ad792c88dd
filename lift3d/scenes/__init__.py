"""Scenes: the parameters that are optimised (Gaussians, density grids, triplanes, meshes)."""

from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig  # noqa: F401
from lift3d.scenes.field import DensityActivation, Field  # noqa: F401
from lift3d.scenes.gaussians import GaussianLearningRates, Gaussians, SHSchedule  # noqa: F401
from lift3d.scenes.hash_grid import HashEncoding, HashEncodingConfig, HashGridConfig, HashGridField  # noqa: F401
from lift3d.scenes.mesh import Mesh  # noqa: F401
from lift3d.scenes.shading import PointLights  # noqa: F401
from lift3d.scenes.triplane import Triplane, TriplaneConfig, TriplaneDecoder, TriplaneDecoderConfig  # noqa: F401
