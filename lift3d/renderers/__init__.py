"""Renderers: scenes plus cameras to images (torch on CPU, CUDA libraries on GPU)."""

from lift3d.renderers.gaussians import GaussianRenderer, GaussianRendererConfig  # noqa: F401
from lift3d.renderers.mesh import MeshRenderer, MeshRendererConfig, render_mesh  # noqa: F401
