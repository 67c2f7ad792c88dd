"""Normalise a generated asset's size and position by its visual hull.

Score distillation fixes an object's shape but hardly its size: with the bundled prior an object keeps about
the extent of the initial density blob (docs/generate.md measures a "red cube" at extent ~0.83 where the
procedural world's cubes span 0.85-1.15), and nothing in a text prompt fixes absolute scale anyway. So, like
the unit-box normalisation of Objaverse-style asset pipelines, ``lift3d generate`` ends by moving the result's
bounding box to the origin and scaling its largest side to ``--normalize-extent`` (1.0, the procedural
world's canonical extent; 0 keeps the optimized size).

The bounding box is the one of the *visual hull* of the result's alpha silhouettes ("The Visual Hull Concept
for Silhouette-Based Image Understanding", Laurentini, TPAMI 1994): a point is inside when it projects into
``alpha >= 0.5`` in every view. Unlike the bounding box of the extracted mesh, this ignores faint density that
no render shows (the evaluation's silhouettes use the same threshold). The views look along the six axis
directions from far away (distance 100 box half-sizes: nearly orthographic; on the procedural ground truth
the hull's box is within 2.5 % of the object's, tests/test_normalize_size.py). Views from the usual 2.75
inflate it through perspective: a unit cube's hull came out 1.25 tall from a ring of such views.
Two passes: the first frames the whole search box, the second re-frames the first pass's box at full
resolution.
"""

from __future__ import annotations

import torch

from lift3d.cameras import Cameras

HULL_THRESHOLD = 0.5
FAR = 100.0
"""Camera distance in half-sizes of the framed box."""
AXIS_VIEWS = ((0.0, 0.0), (0.0, 90.0), (0.0, 180.0), (0.0, 270.0), (90.0, 0.0), (-90.0, 0.0))
"""(elevation, azimuth) of the views along +-X, +-Y and +-Z."""


def hull_cameras(centre: torch.Tensor, half_size: float, resolution: int = 128) -> Cameras:
    """Six nearly orthographic views along the axes, each framing the cube ``centre +- half_size`` (a 10 % margin)."""
    el = torch.tensor([v[0] for v in AXIS_VIEWS])
    az = torch.tensor([v[1] for v in AXIS_VIEWS])
    distance = FAR * half_size
    fov = 2 * torch.rad2deg(torch.atan(torch.tensor(1.1 * half_size / (distance - half_size))))
    return Cameras.from_spherical(el, az, torch.full_like(el, distance), float(fov), resolution,
                                  target=centre.float().reshape(1, 3))


def visual_hull_box(alpha: torch.Tensor, cameras: Cameras, lo: torch.Tensor, hi: torch.Tensor, grid: int = 96,
                    threshold: float = HULL_THRESHOLD) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Bounding box ``(lo, hi)`` of the visual hull of ``alpha [B, H, W, 1]`` seen by ``cameras``, carved on a
    ``grid^3`` lattice of the box ``[lo, hi]`` (the box of the kept cell centres); None when empty."""
    cell = (hi - lo) / grid
    axes = [lo[i] + (torch.arange(grid, dtype=torch.float32) + 0.5) * cell[i] for i in range(3)]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    masks = alpha[..., 0].cpu() >= threshold
    H, W = masks.shape[1:]
    for b in range(len(cameras)):  # carve: each view only tests the points every earlier view kept
        uv, z = cameras[b].project(points)
        col, row = uv[0, :, 0].floor().long(), uv[0, :, 1].floor().long()
        seen = (z[0] > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
        hit = torch.zeros(points.shape[0], dtype=torch.bool)
        hit[seen] = masks[b, row[seen], col[seen]]
        points = points[hit]
        if points.shape[0] == 0:
            return None
    return points.min(0).values, points.max(0).values


def rig_box(rig) -> tuple[torch.Tensor, torch.Tensor]:
    """The region the hull is searched in: the field's box, else a box around the splats' or vertices' extent."""
    aabb = getattr(rig.scene, "aabb", None)
    if isinstance(aabb, torch.Tensor):
        return aabb[:3].detach().cpu(), aabb[3:].detach().cpu()
    points = rig.scene.means if hasattr(rig.scene, "means") else rig.scene.vertices
    points = points.detach().cpu()
    lo, hi = points.min(0).values, points.max(0).values
    pad = float((hi - lo).max()) * 0.25 + 1e-3  # splats reach beyond their means
    return lo - pad, hi + pad


@torch.no_grad()
def hull_box(rig, resolution: int = 128, grid: int = 128) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The visual hull's bounding box of the rig's renders (two passes; module docstring), None when empty."""
    lo, hi = rig_box(rig)
    box = None
    for attempt in range(2):
        # the second pass searches the first pass's box grown by 10 % (its cells may have cut the true box)
        centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * (1.0 if attempt == 0 else 1.1)
        cams = hull_cameras(centre, half, resolution)
        alpha = rig.render(cams.to(rig.scene_device), (1.0, 1.0, 1.0), None).alpha
        box = visual_hull_box(alpha, cams, centre - half, centre + half, grid)
        if box is None:
            return None
        lo, hi = box
    return box


@torch.no_grad()
def size_move(rig, extent: float) -> torch.Tensor | None:
    """``[cx, cy, cz, factor]``: the visual hull's box centre and the factor that scales its largest side to
    ``extent`` (apply with :func:`apply_move`); None when nothing is visible."""
    box = hull_box(rig)
    if box is None:
        return None
    centre = (box[0] + box[1]) / 2
    return torch.cat([centre, torch.tensor([extent / float((box[1] - box[0]).max())])])


def apply_move(rig, move: torch.Tensor) -> None:
    """``rig.rescale(centre, factor)`` from a :func:`size_move` vector."""
    rig.rescale(move[:3].to(rig.scene_device), float(move[3]))


def normalize_size(rig, extent: float) -> torch.Tensor | None:
    """Move the visual hull's box centre to the origin and scale its largest side to ``extent``, in place.
    Returns the move (:func:`size_move`), or None when nothing is visible."""
    move = size_move(rig, extent)
    if move is not None:
        apply_move(rig, move)
    return move


__all__ = ["apply_move", "hull_box", "hull_cameras", "normalize_size", "rig_box", "size_move", "visual_hull_box"]
