"""Image-to-3D: the feed-forward triplane-Gaussian reconstruction model ("Triplane Meets Gaussian
Splatting", arXiv 2312.09147), its training on the procedural world, and input preparation.

>>> from lift3d.recon import TriplaneGaussianModel
>>> from lift3d.recon.train import RECON_TINY_DIR, train_recon  # training: lift3d train-recon
>>> model = TriplaneGaussianModel.from_pretrained(RECON_TINY_DIR)  # doctest: +SKIP
"""

from lift3d.recon.camera import INPUT_AZIMUTH, INPUT_DISTANCE, INPUT_ELEVATION, INPUT_FOV_DEG, input_camera
from lift3d.recon.model import ReconArchitecture, ReconOutput, TriplaneGaussianModel, to_gaussians

__all__ = [
    "INPUT_AZIMUTH",
    "INPUT_DISTANCE",
    "INPUT_ELEVATION",
    "INPUT_FOV_DEG",
    "ReconArchitecture",
    "ReconOutput",
    "TriplaneGaussianModel",
    "input_camera",
    "to_gaussians",
]
