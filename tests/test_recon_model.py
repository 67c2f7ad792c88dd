"""The triplane-Gaussian reconstruction model: shapes, initial Gaussians, triplane axes, save/load."""

from __future__ import annotations

import math

import pytest
import torch

from lift3d.recon.model import ReconArchitecture, TriplaneGaussianModel, to_gaussians
from lift3d.scenes.gaussians import SH_C0

TINY = ReconArchitecture(image_size=16, patch_size=4, encoder_dim=16, encoder_depth=1, encoder_heads=2, decoder_dim=16,
                         decoder_heads=2, point_queries=8, point_depth=1, upsample_factor=2, triplane_resolution=2,
                         triplane_depth=1, plane_channels=4, head_hidden=8)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_output_shapes_and_bounds() -> None:
    model = TINY.build()
    out = model(torch.rand(3, 16, 16, 4))
    g = out.gaussians
    assert out.coarse.shape == (3, 8, 3) and out.points.shape == (3, 16, 3)
    assert out.planes.shape == (3, 3, 4, 4, 4)
    assert g.means.shape == (3, 16, 3) and g.quats.shape == (3, 16, 4) and g.log_scales.shape == (3, 16, 3)
    assert g.opacity_logits.shape == (3, 16) and g.rgb.shape == (3, 16, 3)
    assert out.coarse.abs().max() <= TINY.radius * 0.9
    # children stay within the split offset of their parent, Gaussians within the head's offset of their point
    parents = out.coarse.repeat_interleave(2, dim=1)
    assert (out.points - parents).abs().max() <= TINY.max_child_offset + 1e-6
    assert (g.means - out.points).abs().max() <= TINY.max_gaussian_offset + 1e-6


def test_initial_gaussians_are_neutral() -> None:
    """TGS's zero-initialised heads: zero offset, init scale, identity rotation, init opacity, and the colour of
    the input pixel each point projects to."""
    model = TINY.build()
    images = torch.rand(2, 16, 16, 4)
    out = model(images)
    g = out.gaussians
    torch.testing.assert_close(g.means, out.points)
    torch.testing.assert_close(g.log_scales, torch.full_like(g.log_scales, math.log(TINY.init_scale)))
    torch.testing.assert_close(g.quats, torch.tensor([1.0, 0, 0, 0]).expand_as(g.quats))
    torch.testing.assert_close(torch.sigmoid(g.opacity_logits), torch.full_like(g.opacity_logits, TINY.init_opacity))
    pixel = model.projection(images, out.points)[..., :3]
    torch.testing.assert_close(g.rgb, pixel.clamp(0.02, 0.98))


def test_to_gaussians_matches_attributes() -> None:
    model = TINY.build()
    out = model(torch.rand(2, 16, 16, 4))
    scene = to_gaussians(out.gaussians, 1)
    assert len(scene) == 16 and scene.max_sh_degree == 0
    torch.testing.assert_close(scene.means, out.gaussians.means[1].detach())
    torch.testing.assert_close(scene.scales, out.gaussians.log_scales[1].detach().exp())
    torch.testing.assert_close(scene.sh[:, 0] * SH_C0 + 0.5, out.gaussians.rgb[1].detach())


def test_triplane_axes_pairing() -> None:
    """Planes holding x, y (XY plane), x, z (XZ) and y, z (YZ) as linear features sum to 2(x+y+z) at a point."""
    from lift3d.scenes.triplane import sample_triplane

    R = 9
    lin = torch.linspace(-1, 1, R)
    v, u = torch.meshgrid(lin, lin, indexing="ij")  # grid_sample: u along W (first coord), v along H
    planes = torch.stack([u + v] * 3)[None, :, None]  # [1, 3, 1, R, R]
    x = torch.tensor([[[0.25, -0.5, 0.75]]])
    assert sample_triplane(planes, x).item() == pytest.approx(2 * (0.25 - 0.5 + 0.75), abs=1e-5)


def test_save_load_round_trip(tmp_path) -> None:
    model = TINY.build()
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "config.json").is_file()
    assert list((tmp_path / "m").glob("*.safetensors"))
    loaded = TriplaneGaussianModel.from_pretrained(tmp_path / "m")
    assert loaded.config.point_queries == TINY.point_queries
    x = torch.rand(1, 16, 16, 4)
    a, b = model(x).gaussians, loaded(x).gaussians
    for k in ("means", "quats", "log_scales", "opacity_logits", "rgb"):
        torch.testing.assert_close(getattr(a, k), getattr(b, k))
    assert len(loaded.predict(x)[0]) == 16


def test_wrong_input_size_is_clear() -> None:
    with pytest.raises(ValueError, match="prepare_image"):
        TINY.build()(torch.rand(1, 20, 20, 4))


def test_paper_size_config() -> None:
    """The paper-size architecture is consistent (16384 Gaussians, 18x18 patches at 252 px); not built here."""
    p = ReconArchitecture.paper()
    assert p.point_queries * p.upsample_factor == 16384
    assert (p.image_size // p.patch_size) ** 2 + 1 == 325


def test_projection_reads_the_input_pixel() -> None:
    """A point on the optical axis projects to the principal point; any point reads the pixel it projects to."""
    from lift3d.recon.camera import input_camera
    from lift3d.recon.projection import InputViewProjection

    proj = InputViewProjection(16)
    torch.testing.assert_close(proj.pixels(torch.zeros(1, 1, 3)), torch.tensor([[[8.0, 8.0]]]))
    cam = input_camera(16)
    # a world point on the ray through the centre of pixel (x=11, y=4)
    origins, dirs = cam.rays()
    point = (origins[0, 4, 11] + 2.5 * dirs[0, 4, 11]).reshape(1, 1, 3)
    torch.testing.assert_close(proj.pixels(point), torch.tensor([[[11.5, 4.5]]]), atol=1e-4, rtol=0)
    img = torch.zeros(1, 16, 16, 4)
    img[0, 4, 11] = torch.tensor([0.2, 0.4, 0.6, 1.0])
    torch.testing.assert_close(proj(img, point), torch.tensor([[[0.2, 0.4, 0.6, 1.0]]]), atol=1e-4, rtol=0)
