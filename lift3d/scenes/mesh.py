"""Triangle-mesh scene with optimizable vertex offsets and colour (vertex colours or a UV texture).

This is the scene of the mesh refine stages of Magic3D ("Magic3D: High-Resolution Text-to-3D Content
Creation", arXiv 2211.10440) and DreamGaussian ("DreamGaussian: Generative Gaussian Splatting for
Efficient 3D Content Creation", arXiv 2309.16653): the topology is fixed, vertex positions move through
a learned offset from the initial positions and the appearance is either per-vertex colour or a texture
image sampled at interpolated UV coordinates.

UV convention: trimesh's (OBJ's): ``u`` runs left to right, ``v`` bottom to top of the texture image.
The texture is stored channels-last ``[Ht, Wt, 3]`` with row 0 at the top of the image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

ColorMode = Literal["vertex", "texture"]


def face_neighbors(faces: torch.Tensor) -> torch.Tensor:
    """Face across each edge of each face.

    Edge ``k`` of face ``f`` joins ``faces[f, k]`` and ``faces[f, (k + 1) % 3]``. For non-manifold edges
    (three or more faces) faces are paired in sorted order, so some neighbours are dropped.

    Args:
        faces: ``[F, 3]`` vertex indices.

    Returns:
        ``[F, 3]`` long: the neighbouring face index, ``-1`` on boundary edges.
    """
    F = faces.shape[0]
    out = torch.full((F, 3), -1, dtype=torch.long, device=faces.device)
    if F == 0:
        return out
    a = faces.long()
    b = a.roll(-1, dims=1)
    lo, hi = torch.minimum(a, b).reshape(-1), torch.maximum(a, b).reshape(-1)
    key = lo * (int(a.max()) + 1) + hi
    order = torch.argsort(key, stable=True)
    ks = key[order]
    pair = torch.nonzero(ks[1:] == ks[:-1]).squeeze(1)
    e0, e1 = order[pair], order[pair + 1]
    flat = out.view(-1)
    flat[e0] = e1 // 3
    flat[e1] = e0 // 3
    return out


def face_normals(vertices: torch.Tensor, faces: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``[F, 3]`` face normals (right-hand rule over the vertex order); unnormalised = 2 x area x normal."""
    v = vertices[faces.long()]
    n = torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    return nn.functional.normalize(n, dim=-1, eps=1e-20) if normalize else n


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``[V, 3]`` area-weighted unit vertex normals (zero for vertices in no non-degenerate face)."""
    n = face_normals(vertices, faces, normalize=False)
    acc = torch.zeros_like(vertices)
    for k in range(3):
        acc = acc.index_add(0, faces[:, k].long(), n)
    return nn.functional.normalize(acc, dim=-1, eps=1e-20)


def _check_geometry(vertices: torch.Tensor, faces: torch.Tensor) -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be [V, 3], got {tuple(vertices.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be [F, 3] triangles, got {tuple(faces.shape)}; triangulate first")
    if vertices.shape[0] == 0 or faces.shape[0] == 0:
        raise ValueError(
            f"empty mesh ({vertices.shape[0]} vertices, {faces.shape[0]} faces); "
            "a mesh scene needs at least one triangle"
        )
    if not torch.isfinite(vertices).all():
        raise ValueError("mesh vertices contain NaN or Inf; clean the mesh (e.g. trimesh remove_infinite_values)")
    if faces.min() < 0 or faces.max() >= vertices.shape[0]:
        raise ValueError(f"face indices must lie in [0, {vertices.shape[0] - 1}], got [{faces.min()}, {faces.max()}]")


class Mesh(nn.Module):
    """A fixed-topology triangle mesh with optimizable geometry and appearance.

    Args:
        vertices: ``[V, 3]`` initial positions (a buffer; the parameter is ``offsets``, initialised to 0).
        faces: ``[F, 3]`` vertex indices.
        colors: ``[V, 3]`` vertex colours in [0, 1] (vertex colour mode).
        uv: ``[V, 2]`` texture coordinates (texture mode, together with ``texture``).
        texture: ``[Ht, Wt, 3]`` texture image in [0, 1].
        optimize_vertices: make ``offsets`` trainable.
        texture_levels: with a texture, ``> 1`` adds that many minus one coarser levels (half the size each, at
            least 4 texels), each upsampled bilinearly and added to ``texture`` (:meth:`texture_image`), all
            starting at 0 so the image starts as ``texture``. Renders much smaller than the texture touch few
            texels a step; a coarse level's texel is shared by many pixels, so colour that all of a region
            needs is learned at once while the finest level adds detail (a Laplacian-pyramid parameterization).

    Exactly one of ``colors`` or ``(uv, texture)`` may be given; with neither, vertices are grey.
    """

    def __init__(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        colors: torch.Tensor | None = None,
        uv: torch.Tensor | None = None,
        texture: torch.Tensor | None = None,
        optimize_vertices: bool = True,
        texture_levels: int = 1,
    ) -> None:
        super().__init__()
        vertices = torch.as_tensor(vertices, dtype=torch.float32)
        faces = torch.as_tensor(faces, dtype=torch.long, device=vertices.device)
        _check_geometry(vertices, faces)
        self.register_buffer("base_vertices", vertices.clone())
        self.register_buffer("faces", faces.clone())
        self.register_buffer("neighbors", face_neighbors(faces))
        self.offsets = nn.Parameter(torch.zeros_like(vertices), requires_grad=optimize_vertices)
        self.displace: Callable[[torch.Tensor], torch.Tensor] | None = None
        """Map from ``offsets`` to the displacement (None: the offsets are the displacement); e.g.
        :class:`lift3d.scenes.large_steps.DifferentialSolve`."""
        if (uv is None) != (texture is None):
            raise ValueError("texture mode needs both uv [V, 2] and texture [Ht, Wt, 3]")
        if colors is not None and texture is not None:
            raise ValueError("give either vertex colors or (uv, texture), not both")
        self.color_mode: ColorMode = "texture" if texture is not None else "vertex"
        if texture is not None:
            uv = torch.as_tensor(uv, dtype=torch.float32, device=vertices.device)
            texture = torch.as_tensor(texture, dtype=torch.float32, device=vertices.device)
            if uv.shape != (vertices.shape[0], 2):
                raise ValueError(f"uv must be [V, 2] = [{vertices.shape[0]}, 2], got {tuple(uv.shape)}")
            if texture.ndim != 3 or texture.shape[-1] != 3 or texture.shape[0] < 1 or texture.shape[1] < 1:
                raise ValueError(f"texture must be [Ht, Wt, 3], got {tuple(texture.shape)}")
            self.register_buffer("uv", uv.clone())
            self.texture = nn.Parameter(texture.clone())
            full = (texture.shape[0], texture.shape[1])
            sizes = dict.fromkeys((max(4, full[0] >> i), max(4, full[1] >> i)) for i in range(1, texture_levels))
            self.texture_coarse = nn.ParameterList(
                [nn.Parameter(texture.new_zeros(h, w, 3)) for h, w in sizes if (h, w) != full])
            self.colors = None
        else:
            if colors is None:
                colors = torch.full_like(vertices, 0.7)
            colors = torch.as_tensor(colors, dtype=torch.float32, device=vertices.device)
            if colors.shape != vertices.shape:
                raise ValueError(f"colors must be [V, 3] = {tuple(vertices.shape)}, got {tuple(colors.shape)}")
            self.colors = nn.Parameter(colors.clone())
            self.uv = None
            self.texture = None
            self.texture_coarse = nn.ParameterList()

    @property
    def vertices(self) -> torch.Tensor:
        """``[V, 3]`` current positions: initial positions plus the learned displacement."""
        return self.base_vertices + (self.offsets if self.displace is None else self.displace(self.offsets))

    def vertex_colors(self) -> torch.Tensor:
        """``[V, 3]`` vertex colours clamped to [0, 1] (vertex colour mode only)."""
        if self.colors is None:
            raise ValueError("this mesh is textured; sample texture() at uv instead of vertex_colors()")
        return self.colors.clamp(0.0, 1.0)

    def texture_image(self) -> torch.Tensor:
        """``[Ht, Wt, 3]`` texture clamped to [0, 1] (texture mode only)."""
        if self.texture is None:
            raise ValueError("this mesh has vertex colours, not a texture")
        image = self.texture
        for level in self.texture_coarse:
            up = torch.nn.functional.interpolate(level.permute(2, 0, 1)[None], size=tuple(image.shape[:2]),
                                                 mode="bilinear", align_corners=False)
            image = image + up[0].permute(1, 2, 0)
        return image.clamp(0.0, 1.0)

    def vertex_normals(self) -> torch.Tensor:
        """``[V, 3]`` area-weighted unit normals of the current positions."""
        return vertex_normals(self.vertices, self.faces)

    def param_groups(self, lr_vertices: float = 1e-4, lr_color: float = 1e-2) -> list[dict]:
        """Optimizer parameter groups (geometry and appearance usually need very different rates)."""
        groups = [{"params": [self.colors] if self.colors is not None else [self.texture, *self.texture_coarse],
                   "lr": lr_color}]
        if self.offsets.requires_grad:
            groups.append({"params": [self.offsets], "lr": lr_vertices})
        return groups

    @classmethod
    def icosphere(cls, subdivisions: int = 3, radius: float = 1.0, **kwargs) -> Mesh:
        """An icosphere (``20 * 4**subdivisions`` faces), the usual fixed-topology initial mesh."""
        import trimesh

        sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
        return cls(torch.from_numpy(np.asarray(sphere.vertices)), torch.from_numpy(np.asarray(sphere.faces)), **kwargs)

    @classmethod
    def from_trimesh(cls, mesh, color_mode: ColorMode | None = None, optimize_vertices: bool = True) -> Mesh:
        """Build from a ``trimesh.Trimesh``.

        Args:
            mesh: the mesh; a UV texture (``TextureVisuals`` with uv and an image) or vertex colours are kept.
            color_mode: force ``vertex`` or ``texture``; by default texture when the mesh has one.
            optimize_vertices: make vertex offsets trainable.
        """
        vertices = torch.from_numpy(np.asarray(mesh.vertices, dtype=np.float32))
        faces = torch.from_numpy(np.asarray(mesh.faces, dtype=np.int64))
        visual = mesh.visual
        uv = getattr(visual, "uv", None)
        material = getattr(visual, "material", None)
        image = None
        if material is not None:
            image = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
        has_texture = uv is not None and image is not None
        if color_mode == "texture" and not has_texture:
            raise ValueError("color_mode='texture' but the trimesh has no uv coordinates and texture image")
        if (color_mode or ("texture" if has_texture else "vertex")) == "texture":
            tex = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
            return cls(vertices, faces, uv=torch.from_numpy(np.asarray(uv, dtype=np.float32)),
                       texture=torch.from_numpy(tex), optimize_vertices=optimize_vertices)
        colors = None
        if visual.kind is not None:
            color_visual = visual.to_color() if hasattr(visual, "to_color") else visual
            if getattr(color_visual, "mesh", None) is None:  # to_color() of a texture without an image is unattached
                color_visual.mesh = mesh
            rgb = np.asarray(color_visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
            colors = torch.from_numpy(rgb)
        return cls(vertices, faces, colors=colors, optimize_vertices=optimize_vertices)

    @torch.no_grad()
    def to_trimesh(self):
        """The current mesh as a ``trimesh.Trimesh`` (vertex colours, or uv + texture image)."""
        import trimesh
        from PIL import Image

        v = self.vertices.detach().cpu().numpy()
        f = self.faces.cpu().numpy()
        if self.texture is not None:
            img = (self.texture_image().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
            visual = trimesh.visual.TextureVisuals(uv=self.uv.cpu().numpy(), image=Image.fromarray(img))
            return trimesh.Trimesh(v, f, visual=visual, process=False)
        rgb = (self.vertex_colors().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        rgba = np.concatenate([rgb, np.full((rgb.shape[0], 1), 255, np.uint8)], axis=1)
        return trimesh.Trimesh(v, f, vertex_colors=rgba, process=False)
