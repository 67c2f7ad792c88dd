"""Size, render PSNR against the 3DGS .ply and write time of every splat format lift3d writes (docs/export.md).

Scene: ``--n`` splats (default 20 000) of SH degree ``--degree`` (default 3) on a noisy coloured shell: centres on
the unit sphere with 5 % radial noise, anisotropic log-normal scales about the point spacing, random rotations,
opacities sigmoid(N(1, 1.5)), uniform random base colours and higher SH coefficients N(0, 0.15) (random SH
compresses worse than trained SH). Each file is read back with ``load_splats`` (``load_gltf_splats`` for the GLB)
and rendered with lift3d's Gaussian renderer (CPU) over white at ``--size``² (default 128) from 4 views
(elevation 15°, azimuth 0/90/180/270, distance 3, 40° field of view); PSNR is over all 4 views against the render
of the .ply. One run; write times depend on the machine (SOG's is its SH k-means palette).

Usage: python benchmarks/splat_formats.py [--n 20000] [--degree 3] [--size 128]
Prints a markdown table: format | size | render PSNR vs .ply | write s.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from lift3d.cameras import Cameras
from lift3d.export.gltf_splats import load_gltf_splats
from lift3d.export.splat_files import load_splats, save_splats
from lift3d.export.splats import SplatData
from lift3d.renderers import GaussianRenderer

FORMATS = [("3DGS .ply", "splat-ply", "s.ply"), (".splat", "splat", "s.splat"), (".spz v3 (gzip)", "spz", "s.spz"),
           ("SOG .sog", "sog", "s.sog"), (".compressed.ply", "splat-ply-compressed", "s.compressed.ply"),
           ("glTF KHR_gaussian_splatting", "splat-glb", "s.glb")]


def shell(n: int, degree: int, seed: int = 0) -> SplatData:
    g = torch.Generator().manual_seed(seed)
    means = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    means = means * (1 + 0.05 * torch.randn(n, 1, generator=g))
    log_scales = math.log(1.5 * math.sqrt(4 * math.pi / n)) + 0.4 * torch.randn(n, 3, generator=g)
    sh = torch.randn(n, (degree + 1) ** 2, 3, generator=g) * 0.15
    sh[:, 0] = (torch.rand(n, 3, generator=g) - 0.5) / 0.28209479177387814
    return SplatData(means, torch.randn(n, 4, generator=g), log_scales, 1 + 1.5 * torch.randn(n, generator=g), sh)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--degree", type=int, default=3)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    views = Cameras.from_spherical(torch.full((4,), 15.0), torch.tensor([0.0, 90.0, 180.0, 270.0]), 3.0, 40.0,
                                   args.size)

    def render(s: SplatData) -> torch.Tensor:
        with torch.no_grad():
            return GaussianRenderer()(s.to_gaussians(), views).rgb.double().clamp(0, 1)

    s = shell(args.n, args.degree)
    print("| format | size | render PSNR vs .ply | write |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        ref = None
        for label, fmt, name in FORMATS:
            start = time.perf_counter()
            paths = save_splats(s, Path(tmp) / name, fmt)
            seconds = time.perf_counter() - start
            image = render((load_gltf_splats if fmt == "splat-glb" else load_splats)(paths[0]))
            ref = image if ref is None else ref
            psnr = -10 * math.log10(max(float(((image - ref) ** 2).mean()), 1e-30))
            quality = f"{psnr:.1f} dB" if psnr <= 100 else f"lossless (float: {psnr:.0f} dB)"
            quality = "reference" if image is ref else quality
            size = sum(p.stat().st_size for p in paths) / 1e6
            print(f"| {label} | {size:.2f} MB | {quality} | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
