"""Renderers: scenes plus cameras to images (torch on CPU, CUDA libraries on GPU)."""

from lift3d.renderers.backgrounds import EnvironmentMLP, RandomBackground, SolidBackground  # noqa: F401
from lift3d.renderers.gaussians import GaussianRenderer, GaussianRendererConfig  # noqa: F401
from lift3d.renderers.mesh import MeshRenderer, MeshRendererConfig, render_mesh  # noqa: F401
from lift3d.renderers.volume import VolumeRenderer, VolumeRendererConfig  # noqa: F401
