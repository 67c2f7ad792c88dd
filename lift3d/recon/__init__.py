"""Image-to-3D: the feed-forward triplane-Gaussian reconstruction model ("Triplane Meets Gaussian
Splatting", arXiv 2312.09147), its training on the procedural world, and input preparation.

>>> from lift3d.recon import TriplaneGaussianModel
>>> model = TriplaneGaussianModel.from_pretrained(RECON_TINY_DIR)  # doctest: +SKIP
"""

from lift3d.recon.camera import INPUT_AZIMUTH, INPUT_DISTANCE, INPUT_ELEVATION, INPUT_FOV_DEG, input_camera
from lift3d.recon.model import ReconArchitecture, ReconOutput, TriplaneGaussianModel, to_gaussians
from lift3d.recon.train import RECON_TINY_DIR, TrainReconConfig, train_recon

__all__ = [
    "INPUT_AZIMUTH",
    "INPUT_DISTANCE",
    "INPUT_ELEVATION",
    "INPUT_FOV_DEG",
    "RECON_TINY_DIR",
    "ReconArchitecture",
    "ReconOutput",
    "TrainReconConfig",
    "TriplaneGaussianModel",
    "input_camera",
    "to_gaussians",
    "train_recon",
]
