"""Binned mesh visibility (ours) vs the brute-force z-buffer and a CPU OpenGL peer (llvmpipe), on CPU.

Baseline: the brute-force all-pixels x all-faces z-buffer computes the same face-id image (checked on the
evaluated pixels). It is timed on a random subset of pixels and extrapolated linearly to the full image
(its cost is exactly linear in the number of pixels; the full run would take minutes and gigabytes).
Also reports our full differentiable render (visibility + interpolation + antialiasing) forward and
backward.

Peer: OpenGL through ``moderngl`` on Mesa's llvmpipe (a CPU rasterizer, JIT-compiled by LLVM) in a
standalone EGL context, no display. Same mesh, same camera (lift3d's OpenCV intrinsics/extrinsics turned
into an OpenGL projection and view matrix by :func:`gl_matrices`), same resolution. It draws the face id
(``gl_PrimitiveID + 1`` into an R32I target, 0 empty) and camera depth (a perspective-interpolated
``-z_view`` into an R32F target) with a 24-bit depth test (``GL_LESS``, faces drawn in index order, so
ties keep the lower face id as ours does; no culling, as ours by default). Its time is clear + draw +
readback of both targets, best of ``--repeats`` after a warm-up; context creation and the mesh upload are
excluded and printed separately. ``LP_NUM_THREADS`` (llvmpipe's rasterizer threads) defaults to
``--threads``. The images are compared: coverage agreement (all pixels), face-id agreement (pixels either
side covers; llvmpipe snaps vertices to 1/256 px and uses the top-left fill rule, ours tests barycentrics
``>= 0`` at exact float positions, so pixel centres within a hair of an edge can differ) and depth on
pixels with the same face; the run fails below 99 % / 97 % or above a 1e-3 relative depth error.
Note the asymmetry: lift3d's rasterizer feeds a differentiable renderer (torch, CPU), the peer only draws
(no gradients), in a driver written for exactly this.

moderngl is not a lift3d dependency (``tools/install_mesh_peer.sh`` installs it and Mesa): it is imported
here only, and when it is missing or no EGL context can be created the script prints the one-line reason
and ends with ``peer=none``. Other candidates (docs/mesh.md): pytorch3d and nvdiffrast have no
installable distribution here; pyrender needs the same OpenGL context and adds nothing for face ids.

Timings of ours and the peer are the best of ``--repeats`` after a warm-up.

Usage: ``python benchmarks/mesh_raster.py [--repeats 3] [--subset 2048] [--threads 1]``. Last line, for
50k faces at 512x512: ``mesh_raster: ours=<s> baseline=<s> ratio=<x> peer=<s> peer_ratio=<peer/ours>``
(``peer=none`` without the peer).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import trimesh
from _child import peak_rss_line

from lift3d.cameras import Cameras
from lift3d.renderers._mesh_interp import fragments, to_image
from lift3d.renderers._mesh_raster import rasterize, rasterize_brute_force
from lift3d.renderers.mesh import render_mesh

MIN_COVERAGE_AGREEMENT = 0.99
MIN_FACE_ID_AGREEMENT = 0.97
MAX_DEPTH_REL_ERROR = 1e-3

_VERTEX_SHADER = """
#version 330
uniform mat4 mvp;
uniform mat4 view;
in vec3 in_pos;
out float v_depth;
void main() {
    v_depth = -(view * vec4(in_pos, 1.0)).z;
    gl_Position = mvp * vec4(in_pos, 1.0);
}
"""
_FRAGMENT_SHADER = """
#version 450
in float v_depth;
layout(location = 0) out int out_face;
layout(location = 1) out float out_depth;
void main() {
    out_face = gl_PrimitiveID + 1;
    out_depth = v_depth;
}
"""


def _sphere(target_faces: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = int(round((target_faces / 4) ** 0.5))  # a uv sphere with count [n, n + 1] has ~4 n^2 faces
    m = trimesh.creation.uv_sphere(radius=1.0, count=[n, n + 1])
    return torch.from_numpy(np.asarray(m.vertices, dtype=np.float32)), torch.from_numpy(np.asarray(m.faces))


def _time(fn, repeats: int) -> float:
    """Best of ``repeats`` wall-clock runs after one warm-up."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def gl_matrices(cameras: Cameras, near: float, far: float) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenGL projection and view matrices ``([B, 4, 4], [B, 4, 4])`` drawing what lift3d's cameras see.

    lift3d's cameras use OpenCV axes (x right, y down, z forward) and pixel intrinsics ``K`` with pixel
    centres at ``i + 0.5``; OpenGL's eye space has y up and looks down -z, and its window has y up. The
    view matrix is ``diag(1, -1, -1, 1) @ w2c``; the projection maps eye ``(x, y, z)`` to the NDC point
    whose window coordinates are ``(u, H - v)`` for lift3d's pixel ``(u, v)`` (so a readback, whose first
    row is the bottom one, is flipped vertically to lift3d's row order), with the standard depth rows for
    ``near``/``far`` (camera z in ``(near, far)`` maps to NDC z in ``(-1, 1)``). Skew ``K[0, 1]`` is kept.
    """
    if not 0 < near < far:
        raise ValueError(f"need 0 < near < far, got {near}, {far}")
    dt = cameras.c2w.dtype
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=dt, device=cameras.device))
    view = flip @ cameras.viewmats()
    K, W, H = cameras.K, cameras.width, cameras.height
    proj = torch.zeros(len(cameras), 4, 4, dtype=dt, device=cameras.device)
    proj[:, 0, 0] = 2 * K[:, 0, 0] / W
    proj[:, 0, 1] = -2 * K[:, 0, 1] / W
    proj[:, 0, 2] = 1 - 2 * K[:, 0, 2] / W
    proj[:, 1, 1] = 2 * K[:, 1, 1] / H
    proj[:, 1, 2] = 2 * K[:, 1, 2] / H - 1
    proj[:, 2, 2] = -(far + near) / (far - near)
    proj[:, 2, 3] = -2 * far * near / (far - near)
    proj[:, 3, 2] = -1.0
    return proj, view


def gl_pixels(proj: torch.Tensor, view: torch.Tensor, points: torch.Tensor, width: int, height: int):
    """Project world points ``[N, 3]`` through GL matrices ``[B, 4, 4]`` to lift3d pixels and eye depth.

    Returns ``([B, N, 2] (u, v) with v = H - window y, [B, N] -z_eye, [B, N] NDC z)``: the CPU-side check
    of :func:`gl_matrices` (OpenGL's own viewport transform, written out).
    """
    hom = torch.cat([points, torch.ones_like(points[:, :1])], -1)  # [N, 4]
    eye = hom @ view.transpose(1, 2)  # [B, N, 4]
    clip = eye @ proj.transpose(1, 2)
    ndc = clip[..., :3] / clip[..., 3:]
    u = (ndc[..., 0] + 1) * 0.5 * width
    v = height - (ndc[..., 1] + 1) * 0.5 * height
    return torch.stack([u, v], -1), -eye[..., 2], ndc[..., 2]


class GLPeer:
    """Face-id + depth rasterization with moderngl on Mesa llvmpipe (standalone EGL context, CPU).

    Raises ``RuntimeError`` with a one-line reason when moderngl is missing or no context can be made.
    """

    def __init__(self, width: int, height: int, threads: int) -> None:
        os.environ.setdefault("LP_NUM_THREADS", str(threads))  # read when the driver loads
        try:
            import moderngl
        except ImportError as err:
            raise RuntimeError(f"moderngl not importable ({err}); tools/install_mesh_peer.sh installs it") from None
        self._gl = moderngl
        t = time.perf_counter()
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl", require=450)
        except Exception as err:  # noqa: BLE001 - any driver failure means no peer
            reason = " ".join(str(err).split()) or type(err).__name__
            raise RuntimeError(
                f"no EGL OpenGL 4.5 context ({reason}); apt-get install libegl1 libgl1-mesa-dri"
            ) from None
        self.context_s = time.perf_counter() - t
        self.renderer = self.ctx.info["GL_RENDERER"]
        self.lp_threads = os.environ["LP_NUM_THREADS"]
        self.prog = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.vao = None
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        size = (width, height)
        self.fbo = self.ctx.framebuffer(
            [self.ctx.renderbuffer(size, 1, dtype="i4"), self.ctx.renderbuffer(size, 1, dtype="f4")],
            self.ctx.depth_renderbuffer(size),
        )

    def upload(self, vertices: torch.Tensor, faces: torch.Tensor) -> float:
        """Upload the mesh (world positions, face indices); returns the seconds it took."""
        t = time.perf_counter()
        vbo = self.ctx.buffer(vertices.detach().cpu().numpy().astype(np.float32).tobytes())
        ibo = self.ctx.buffer(faces.cpu().numpy().astype(np.int32).tobytes())
        self.vao = self.ctx.vertex_array(self.prog, [(vbo, "3f", "in_pos")], index_buffer=ibo, index_element_size=4)
        self.ctx.finish()
        return time.perf_counter() - t

    def render(self, cameras: Cameras, near: float, far: float) -> tuple[np.ndarray, np.ndarray]:
        """``([B, H, W] int64 face ids, -1 empty; [B, H, W] float32 camera depth)`` in lift3d's row order."""
        gl = self._gl
        proj, view = gl_matrices(cameras.to("cpu", torch.float64), near, far)
        ids, depth = [], []
        self.ctx.enable(gl.DEPTH_TEST)
        self.ctx.disable(gl.CULL_FACE)
        self.ctx.depth_func = "<"
        for b in range(len(cameras)):
            mvp = (proj[b] @ view[b]).numpy().astype(np.float32)
            self.prog["mvp"].write(np.ascontiguousarray(mvp.T).tobytes())  # GLSL matrices are column-major
            self.prog["view"].write(np.ascontiguousarray(view[b].numpy().astype(np.float32).T).tobytes())
            self.fbo.use()
            self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            self.vao.render(gl.TRIANGLES)
            shape = (self.height, self.width)
            f = np.frombuffer(self.fbo.read(components=1, attachment=0, dtype="i4"), dtype=np.int32).reshape(shape)
            z = np.frombuffer(self.fbo.read(components=1, attachment=1, dtype="f4"), dtype=np.float32).reshape(shape)
            ids.append(f[::-1].astype(np.int64) - 1)
            depth.append(z[::-1])
        return np.stack(ids), np.stack(depth)


def agreement(ours_ids, ours_depth, peer_ids, peer_depth) -> dict[str, float]:
    """Coverage agreement (all pixels), face-id agreement (pixels either covers), depth error where ids match."""
    ours_ids, peer_ids = np.asarray(ours_ids), np.asarray(peer_ids)
    ours_cov, peer_cov = ours_ids >= 0, peer_ids >= 0
    either = ours_cov | peer_cov
    same = (ours_ids == peer_ids) & ours_cov
    rel = np.abs(np.asarray(ours_depth) - np.asarray(peer_depth))[same] / np.maximum(
        np.asarray(ours_depth)[same], 1e-12
    )
    return {
        "coverage": float((ours_cov == peer_cov).mean()),
        "face_id": float(same.sum() / max(int(either.sum()), 1)),
        "depth_max_rel": float(rel.max()) if rel.size else 0.0,
        "depth_median_rel": float(np.median(rel)) if rel.size else 0.0,
    }


def check_agreement(agree: dict[str, float]) -> None:
    if agree["coverage"] < MIN_COVERAGE_AGREEMENT or agree["face_id"] < MIN_FACE_ID_AGREEMENT:
        raise RuntimeError(f"peer image differs from ours: {agree}")
    if agree["depth_max_rel"] > MAX_DEPTH_REL_ERROR:
        raise RuntimeError(f"peer depth differs from ours: {agree}")


def last_line(ours: float, brute: float, peer: float | None) -> str:
    line = f"mesh_raster: ours={ours:.4f} baseline={brute:.2f} ratio={brute / ours:.0f}"
    if peer is None:
        return line + " peer=none"
    return line + f" peer={peer:.4f} peer_ratio={peer / ours:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", type=int, default=2048, help="pixels evaluated by the brute force")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both methods); llvmpipe's too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(f"brute force timed on {args.subset} random pixels and extrapolated linearly to the full image")
    try:
        peer = GLPeer(256, 256, args.threads)
        print(
            f"peer: moderngl {peer._gl.__version__}, {peer.renderer}, LP_NUM_THREADS={peer.lp_threads}; "
            f"EGL context created in {peer.context_s:.3f} s (not timed below)"
        )
        peer_note = None
    except RuntimeError as err:
        peer, peer_note = None, f"peer=none: {err}"
        print(peer_note)
    header = (
        f"{'faces':>7} {'size':>9} {'ours (s)':>9} {'+depth':>7} {'brute (s)':>10} {'ratio':>8} "
        f"{'render fwd':>10} {'bwd':>7}"
    )
    if peer is not None:
        header += f" {'peer (s)':>9} {'peer/ours':>9} {'upload':>7} {'cov %':>7} {'id %':>7} {'dz max':>8}"
    print(header)
    last = None
    for faces_wanted in (5_000, 50_000):
        vertices, faces = _sphere(faces_wanted)
        upload = peer.upload(vertices, faces) if peer is not None else 0.0
        for size in (256, 512):
            cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.6]), 50.0, size)
            pix, z = cams.project(vertices)
            ours = _time(lambda: rasterize(pix, z, faces, size, size), args.repeats)  # noqa: B023

            def ids_and_depth():
                ids = rasterize(pix, z, faces, size, size)  # noqa: B023
                frags = fragments(pix, z, faces, ids)  # noqa: B023
                return ids, to_image(frags.depth[:, None], frags, ids.shape)[..., 0]

            ours_depth_t = _time(ids_and_depth, args.repeats)
            subset = torch.randperm(size * size, generator=g)[: args.subset]
            t = time.perf_counter()
            ref = rasterize_brute_force(pix, z, faces, size, size, pixels=subset)
            brute = (time.perf_counter() - t) * (size * size) / subset.numel()
            ids, depth = ids_and_depth()
            if not torch.equal(ids.view(1, -1)[:, subset], ref):
                raise RuntimeError("binned and brute-force face ids differ")
            v = vertices.clone().requires_grad_(True)
            colors = torch.rand(vertices.shape, generator=g)
            t = time.perf_counter()
            out = render_mesh(v, faces, cams, colors=colors)
            fwd = time.perf_counter() - t
            t = time.perf_counter()
            out.rgb.sum().backward()
            bwd = time.perf_counter() - t
            row = (
                f"{faces.shape[0]:>7} {size:>4}x{size:<4} {ours:>9.4f} {ours_depth_t:>7.4f} {brute:>10.2f} "
                f"{brute / ours:>7.0f}x {fwd:>10.3f} {bwd:>7.3f}"
            )
            peer_t = None
            if peer is not None:
                peer.resize(size, size)
                near, far = 0.5 * float(z.min()), 2.0 * float(z.max())  # the scene's depth range, with margin
                peer_t = _time(lambda: peer.render(cams, near, far), args.repeats)  # noqa: B023
                peer_ids, peer_depth = peer.render(cams, near, far)
                agree = agreement(ids.numpy(), depth.numpy(), peer_ids, peer_depth)
                row += (
                    f" {peer_t:>9.4f} {peer_t / ours:>9.3f} {upload:>7.4f} {100 * agree['coverage']:>7.3f} "
                    f"{100 * agree['face_id']:>7.3f} {agree['depth_max_rel']:>8.1e}"
                )
                print(row, flush=True)
                check_agreement(agree)
            else:
                print(row, flush=True)
            last = (ours, brute, peer_t)
    if peer is not None:
        print(
            f"peer agreement required: coverage >= {100 * MIN_COVERAGE_AGREEMENT:.0f} %, face id >= "
            f"{100 * MIN_FACE_ID_AGREEMENT:.0f} % of covered pixels, depth (same face) within "
            f"{MAX_DEPTH_REL_ERROR:.0e} relative"
        )
    else:
        print(peer_note)
    print(peak_rss_line(), flush=True)
    print(last_line(*last))


if __name__ == "__main__":
    main()
