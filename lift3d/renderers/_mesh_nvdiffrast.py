"""Visibility on CUDA with nvdiffrast's hardware-style rasterizer (used only when it is importable).

nvdiffrast ("Modular Primitives for High-Performance Differentiable Rendering", arXiv 2011.03277) is
CUDA-only and not on PyPI; install it from its repository on CUDA machines. It replaces our binned
z-buffer (``_mesh_raster.rasterize``) and returns the same face ids; barycentrics, shading and
antialiasing stay on the shared torch path so both backends are differentiable in the same way.
"""

from __future__ import annotations

import torch

_CONTEXTS: dict[torch.device, object] = {}


def nvdiffrast_available() -> bool:
    """Whether ``nvdiffrast.torch`` imports."""
    try:
        import nvdiffrast.torch  # noqa: F401
    except Exception:  # ImportError, or a failed CUDA extension build
        return False
    return True


@torch.no_grad()
def rasterize_nvdiffrast(
    pix: torch.Tensor, z: torch.Tensor, faces: torch.Tensor, width: int, height: int, near: float
) -> torch.Tensor:
    """Face ids ``[B, H, W]`` (``-1`` empty) from nvdiffrast, with OpenCV pixels mapped to clip space.

    Pixel ``(x, y)`` maps to NDC ``(2x / W - 1, 2y / H - 1)``; nvdiffrast stores NDC ``y = -1`` in row 0,
    so rows come out top-down like ours. Depth uses an OpenGL projection between ``near`` and a far
    plane just beyond the farthest vertex. nvdiffrast clips faces at the near plane where ours culls
    them; faces culled by our rule are reported as empty for parity.
    """
    import nvdiffrast.torch as dr

    device = pix.device
    if device not in _CONTEXTS:
        _CONTEXTS[device] = dr.RasterizeCudaContext(device=device)
    far = float(z.detach().max().clamp_min(near * 2)) * 1.01 + near
    ndc_x = 2.0 * pix[..., 0] / width - 1.0
    ndc_y = 2.0 * pix[..., 1] / height - 1.0
    zc = ((far + near) * z - 2.0 * far * near) / (far - near)
    clip = torch.stack([ndc_x * z, ndc_y * z, zc, z], dim=-1).float().contiguous()
    clip = torch.nan_to_num(clip, nan=0.0, posinf=0.0, neginf=0.0)
    rast, _ = dr.rasterize(_CONTEXTS[device], clip, faces.int().contiguous(), resolution=[height, width])
    face_ids = rast[..., 3].long() - 1
    f = faces.long()
    culled = (z[:, f] <= near).any(-1) | ~torch.isfinite(pix[:, f]).all(-1).all(-1)  # [B, F]
    hit = face_ids >= 0
    bad = torch.zeros_like(hit)
    b_idx = torch.arange(face_ids.shape[0], device=device)[:, None, None].expand_as(face_ids)
    bad[hit] = culled[b_idx[hit], face_ids[hit]]
    return torch.where(bad, torch.full_like(face_ids, -1), face_ids)
