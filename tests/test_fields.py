"""Field protocol, hash encoding (reference + gradcheck), triplane decoder, DreamFusion shading."""

from __future__ import annotations

import math

import pytest
import torch

from lift3d.scenes.density_grid import DensityGrid, DensityGridConfig
from lift3d.scenes.field import DensityActivation, Field
from lift3d.scenes.hash_grid import HashEncoding, HashEncodingConfig, HashGridConfig, HashGridField
from lift3d.scenes.shading import (
    PointLights,
    field_with_normals,
    opacity_entropy,
    opacity_sparsity,
    orientation_penalty,
    shade,
)
from lift3d.scenes.triplane import Triplane, TriplaneConfig, TriplaneDecoder, TriplaneDecoderConfig

SMALL_HASH = HashEncodingConfig(num_levels=6, features_per_level=2, log2_hashmap_size=10, base_resolution=2,
                                max_resolution=64)


def make_fields() -> list[Field]:
    g = torch.Generator().manual_seed(0)
    return [
        DensityGrid(DensityGridConfig(resolution=16), generator=g),
        HashGridField(HashGridConfig(encoding=SMALL_HASH, hidden_dim=16), generator=g),
        Triplane(TriplaneConfig(resolution=16, decoder=TriplaneDecoderConfig(feature_dim=4, hidden_dim=16)),
                 generator=g),
    ]


@pytest.mark.parametrize("field", make_fields(), ids=lambda f: type(f).__name__)
def test_field_protocol(field: Field):
    pts = torch.rand(500, 3, generator=torch.Generator().manual_seed(1)) * 3 - 1.5
    density, albedo = field(pts)
    assert density.shape == (500,) and albedo.shape == (500, 3)
    assert (density >= 0).all() and ((albedo >= 0) & (albedo <= 1)).all()
    outside = (pts.abs() > 1).any(-1)
    assert (density[outside] == 0).all() and (density[~outside] > 0).all()
    torch.testing.assert_close(field.density(pts), density)
    torch.testing.assert_close(field.albedo(pts), albedo)
    assert field(torch.zeros(0, 3))[0].shape == (0,)
    groups = field.param_groups(1e-2)
    grouped = [p for g in groups for p in g["params"]]
    assert len(grouped) == len(list(field.parameters()))
    assert {id(p) for p in grouped} == {id(p) for p in field.parameters()}
    (density.sum() + albedo.sum()).backward()
    assert all(p.grad is not None for p in field.parameters())
    with pytest.raises(ValueError, match="points must be"):
        field(torch.zeros(4, 2))


def test_density_blob_raises_centre_density():
    plain = DensityGrid(DensityGridConfig(resolution=8))
    blob = DensityGrid(DensityGridConfig(resolution=8, activation=DensityActivation(bias=-1.0, blob_scale=5.0,
                                                                                   blob_std=0.3)))
    centre, corner = torch.zeros(1, 3), torch.full((1, 3), 0.9)
    assert blob.density(centre) > 10 * plain.density(centre)
    torch.testing.assert_close(blob.density(corner), plain.density(corner), atol=1e-3, rtol=0)
    # softplus(5 - 1) exactly at the centre
    torch.testing.assert_close(blob.density(centre), torch.nn.functional.softplus(torch.tensor([4.0])))


def test_bad_configs():
    with pytest.raises(ValueError):
        DensityActivation(kind="relu")
    with pytest.raises(ValueError):
        DensityGridConfig(resolution=1)
    with pytest.raises(ValueError):
        HashEncodingConfig(base_resolution=64, max_resolution=16)


def naive_hash_encoding(enc: HashEncoding, x: torch.Tensor) -> torch.Tensor:
    """The paper's encoding, one point, level and corner at a time."""
    T = 2**enc.config.log2_hashmap_size
    rows = []
    for p in x.tolist():
        feats = []
        for level, r in enumerate(enc.resolutions.tolist()):
            pos = [c * r for c in p]
            base = [min(math.floor(c), r - 1) for c in pos]
            frac = [c - b for c, b in zip(pos, base)]
            acc = torch.zeros(enc.config.features_per_level, dtype=torch.float64)
            for k in range(8):
                bits = [(k >> i) & 1 for i in range(3)]
                c = [b + bit for b, bit in zip(base, bits)]
                w = math.prod(f if bit else 1 - f for f, bit in zip(frac, bits))
                if (r + 1) ** 3 <= T:
                    idx = c[0] + c[1] * (r + 1) + c[2] * (r + 1) ** 2
                else:
                    idx = (c[0] * 1 ^ c[1] * 2654435761 ^ c[2] * 805459861) % T
                acc += w * enc.embeddings[int(enc.offsets[level]) + idx].detach()
            feats.append(acc)
        rows.append(torch.cat(feats))
    return torch.stack(rows)


def test_hash_encoding_matches_paper_reference():
    enc = HashEncoding(SMALL_HASH, dtype=torch.float64)
    with torch.no_grad():
        enc.embeddings.normal_(generator=torch.Generator().manual_seed(0))
    assert 0 < enc.num_dense < SMALL_HASH.num_levels  # both dense and hashed levels are exercised
    x = torch.rand(25, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x[0] = 1.0  # the upper box corner
    torch.testing.assert_close(enc(x), naive_hash_encoding(enc, x), atol=1e-12, rtol=0)


def test_hash_encoding_gradcheck():
    enc = HashEncoding(HashEncodingConfig(num_levels=3, features_per_level=2, log2_hashmap_size=6,
                                          base_resolution=2, max_resolution=16), dtype=torch.float64)
    with torch.no_grad():
        enc.embeddings.normal_(generator=torch.Generator().manual_seed(0))
    x = torch.rand(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 0.9 + 0.05
    x.requires_grad_(True)
    table = enc.embeddings.detach().clone().requires_grad_(True)

    def f(points, emb):
        return torch.func.functional_call(enc, {"embeddings": emb}, (points,))

    assert torch.autograd.gradcheck(f, (x, table), eps=1e-6, atol=1e-6)


def test_triplane_decoder_takes_planes_as_input():
    dec = TriplaneDecoder(TriplaneDecoderConfig(feature_dim=4, hidden_dim=8), torch.Generator().manual_seed(0))
    planes = torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    x = torch.rand(2, 50, 3, generator=torch.Generator().manual_seed(2)) * 2 - 1
    density, albedo = dec(planes, x)
    assert density.shape == (2, 50) and albedo.shape == (2, 50, 3)
    d0, _ = dec(planes[:1], x[:1])
    torch.testing.assert_close(density[:1], d0)
    # A Triplane scene with the same planes and decoder agrees with the decoder.
    scene = Triplane(TriplaneConfig(resolution=8, decoder=dec.config))
    scene.decoder.load_state_dict(dec.state_dict())
    with torch.no_grad():
        scene.planes.copy_(planes[1:])
    torch.testing.assert_close(scene.density(x[1]), density[1])
    with pytest.raises(ValueError, match="planes must be"):
        dec(planes[:, :2], x)


def test_triplane_plane_axes():
    """A feature only on the XY plane varies with x and y but not z."""
    dec = TriplaneDecoder(TriplaneDecoderConfig(feature_dim=1, num_hidden_layers=0))
    with torch.no_grad():
        dec.mlp[0].weight.fill_(1.0)
        dec.mlp[0].bias.zero_()
    planes = torch.zeros(1, 3, 1, 5, 5)
    planes[0, 0, 0] = torch.arange(25.0).view(5, 5)  # XY plane: value = 5 * v(y) + u(x)
    from lift3d.scenes.triplane import sample_triplane

    pts = torch.tensor([[[-1.0, -1.0, 0.3], [1.0, -1.0, -0.7], [-1.0, 1.0, 0.0]]])
    torch.testing.assert_close(sample_triplane(planes, pts)[0, :, 0], torch.tensor([0.0, 4.0, 20.0]))


class Ball(Field):
    """Smooth radial density ``exp(-|x|^2 / 0.1)``: normals point radially outward."""

    def __init__(self):
        super().__init__((-1, -1, -1, 1, 1, 1), DensityActivation())
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, points):
        return self.scale * torch.exp(-(points**2).sum(-1) / 0.1), torch.full_like(points, 0.5)


def test_normals_analytic_and_finite_difference():
    pts = torch.tensor([[0.2, 0.0, 0.0], [0.0, -0.3, 0.1], [0.1, 0.1, 0.1]])
    _, _, n_a = field_with_normals(Ball(), pts, "analytic")
    _, _, n_fd = field_with_normals(Ball(), pts, "finite_difference", eps=1e-4)
    expected = torch.nn.functional.normalize(pts, dim=-1)
    torch.testing.assert_close(n_a, expected)
    torch.testing.assert_close(n_fd, expected, atol=1e-3, rtol=0)
    # Analytic normals are differentiable (double backward) when grad is enabled.
    ball = Ball()
    d, _, n = field_with_normals(ball, pts + 0.05, "analytic")
    (n.sum() + d.sum()).backward()
    assert ball.scale.grad is not None
    with torch.no_grad():
        d, _, n = field_with_normals(Ball(), pts, "analytic")
    assert not n.requires_grad and not d.requires_grad


def _linear_grid(radius: float = 1.5) -> DensityGrid:
    """A dense grid whose raw density is linear in box coordinates (its trilinear interpolant is exact)."""
    grid = DensityGrid(DensityGridConfig(resolution=8, radius=radius,
                                         activation=DensityActivation(bias=-1.0, blob_scale=2.0, blob_std=0.4)))
    t = torch.linspace(-1.0, 1.0, 8)
    z, y, x = torch.meshgrid(t, t, t, indexing="ij")
    with torch.no_grad():
        grid.density_voxels.copy_((0.7 * x - 1.3 * y + 0.4 * z)[None, None])
    return grid


def test_dense_grid_stored_gradient_equals_autograd_on_a_linear_field():
    grid = _linear_grid()
    pts = (torch.rand(200, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1) * 1.4
    pts = torch.cat([pts, torch.tensor([[1.6, 0.0, 0.0]])])  # one point outside the box
    d_auto, a_auto, n_auto = field_with_normals(grid, pts, "auto")
    d_ref, a_ref, n_ref = field_with_normals(grid, pts, "analytic")
    torch.testing.assert_close(d_auto, d_ref)
    torch.testing.assert_close(a_auto, a_ref)
    torch.testing.assert_close(n_auto, n_ref, atol=1e-5, rtol=1e-4)
    assert n_auto[-1].abs().max() == 0  # outside the box: zero density, zero gradient, as autograd gives
    probe = pts[:1].clone().requires_grad_(True)
    _, _, grad = grid.forward_with_gradient(probe)
    (expected,) = torch.autograd.grad(grid.density(probe).sum(), probe)
    torch.testing.assert_close(grad.detach(), expected, atol=1e-5, rtol=1e-4)  # world units (radius 1.5)


def test_dense_grid_stored_gradient_tracks_autograd_and_backpropagates():
    g = torch.Generator().manual_seed(0)
    grid = DensityGrid(DensityGridConfig(resolution=24, activation=DensityActivation(bias=-1.0, blob_scale=3.0)))
    t = torch.linspace(-1.0, 1.0, 24)
    z, y, x = torch.meshgrid(t, t, t, indexing="ij")
    with torch.no_grad():  # a smooth field: the interpolated central differences follow the derivative
        grid.density_voxels.copy_((torch.sin(2 * x) * torch.cos(3 * y) + z**2)[None, None])
    pts = (torch.rand(500, 3, generator=g) * 2 - 1) * 0.9
    _, _, n_auto = field_with_normals(grid, pts, "auto")
    _, _, n_ref = field_with_normals(grid, pts, "analytic")
    assert (n_auto * n_ref).sum(-1).mean() > 0.99
    # Differentiable w.r.t. the voxels (no double backward): directional derivative = finite difference.
    grid = grid.double()
    pts = pts.double()
    weights = torch.randn(500, 3, generator=g, dtype=torch.float64)

    def loss() -> torch.Tensor:
        d, a, n = field_with_normals(grid, pts, "auto")
        return (n * weights).sum() + d.sum() + a.sum()

    loss().backward()
    direction = torch.randn(grid.density_voxels.shape, generator=g, dtype=torch.float64)
    eps = 1e-6
    with torch.no_grad():
        grid.density_voxels += eps * direction
        up = loss()
        grid.density_voxels -= 2 * eps * direction
        down = loss()
    numeric = (up - down) / (2 * eps)
    analytic = (grid.density_voxels.grad * direction).sum()
    assert abs(numeric - analytic) < 1e-5 * max(1.0, abs(analytic))
    assert grid.color_voxels.grad is not None and grid.color_voxels.grad.abs().sum() > 0


def test_lambertian_and_textureless_shading():
    albedo = torch.tensor([[0.5, 0.2, 1.0]]).repeat(3, 1)
    normals = torch.tensor([[0.0, 0.0, 1.0]]).repeat(3, 1)
    points = torch.zeros(3, 3)
    lights = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.0, -5.0], [5.0, 0.0, 5.0]])
    ambient = torch.full((3,), 0.2)
    rgb = shade(albedo, normals, points, lights, ambient, "lambertian")
    torch.testing.assert_close(rgb[0], albedo[0])  # lit head-on: ambient + diffuse = 1
    torch.testing.assert_close(rgb[1], 0.2 * albedo[1])  # lit from behind: ambient only
    torch.testing.assert_close(rgb[2], (0.2 + 0.8 * math.cos(math.pi / 4)) * albedo[2])
    plain = shade(albedo, normals, points, lights, ambient, "textureless")
    torch.testing.assert_close(plain, (rgb / albedo))
    assert shade(albedo, None, points, None, None, "albedo") is albedo
    with pytest.raises(ValueError, match="needs normals"):
        shade(albedo, None, points, None, None, "lambertian")


def test_point_light_sampling():
    cams = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
    a = PointLights.sample(cams, torch.Generator().manual_seed(0), distance_range=(0.8, 1.5), perturb_std=0.0,
                           ambient_range=(0.1, 0.3))
    b = PointLights.sample(cams, torch.Generator().manual_seed(0), distance_range=(0.8, 1.5), perturb_std=0.0,
                           ambient_range=(0.1, 0.3))
    torch.testing.assert_close(a.positions, b.positions)
    dist = a.positions.norm(dim=-1)
    assert ((dist >= 0.8) & (dist <= 1.5)).all() and ((a.ambient >= 0.1) & (a.ambient <= 0.3)).all()
    # Without perturbation the light sits on the camera's side of the origin.
    torch.testing.assert_close(torch.nn.functional.normalize(a.positions, dim=-1),
                               torch.nn.functional.normalize(cams, dim=-1))


def test_orientation_and_opacity_regularisers():
    d = torch.tensor([[1.0, 0.0, 0.0]]).expand(3, 3)
    n = torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [math.sqrt(0.5), math.sqrt(0.5), 0.0]], requires_grad=True)
    w = torch.tensor([1.0, 0.5, 1.0], requires_grad=True)
    pen = orientation_penalty(w, n, d)
    torch.testing.assert_close(pen, torch.tensor([0.0, 0.5, 0.5]))
    pen.sum().backward()
    assert w.grad is None and n.grad is not None  # weights are stop-gradient, normals are not
    torch.testing.assert_close(opacity_entropy(torch.tensor([0.5])), torch.tensor(math.log(2.0)))
    assert opacity_entropy(torch.tensor([0.0, 1.0])) < 1e-3
    torch.testing.assert_close(opacity_sparsity(torch.tensor([0.0, 1.0, 0.5])), torch.tensor(0.5))


def test_total_variation_priors():
    grid = DensityGrid(DensityGridConfig(resolution=6))
    tri = Triplane(TriplaneConfig(resolution=6, decoder=TriplaneDecoderConfig(feature_dim=2)))
    with torch.no_grad():
        tri.planes.fill_(0.3)
    assert grid.total_variation() == 0 and tri.total_variation() == 0
    with torch.no_grad():
        grid.density_voxels[0, 0, 2, 2, 2] = 1.0  # one spike: 6 neighbour differences of 1
        tri.planes[0, 0, 0, 2, 2] = 1.3  # one spike on one plane: 4 differences of 1
    n_diffs_grid = 4 * 5 * 6 * 6  # channels x differences x cross-section, per axis
    torch.testing.assert_close(grid.total_variation(), torch.tensor(2 / n_diffs_grid))
    n_diffs_tri = 3 * 2 * 6 * 5  # planes x channels x rows x differences, per direction
    torch.testing.assert_close(tri.total_variation(), torch.tensor(2 / n_diffs_tri))
