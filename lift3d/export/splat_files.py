"""One entry point for every splat file lift3d reads and writes, by suffix.

Read: 3DGS ``.ply``, ``.compressed.ply`` (SuperSplat), ``.splat`` (antimatter15), ``.spz`` (Niantic), ``.sog`` or
``meta.json`` (PlayCanvas SOG). Write: those, plus ``.glb`` with ``KHR_gaussian_splatting``
(:mod:`lift3d.export.gltf_splats`). ``lift3d export FILE`` and ``lift3d view FILE`` read through
:func:`load_splats`; :func:`write_splat_set` is what a Gaussian run writes beside its ``splats.ply``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from lift3d.export.splats import SplatAxes, SplatData, is_3dgs_ply
from lift3d.types import LiftError

SplatFormat = Literal["splat-ply", "splat", "spz", "sog", "splat-ply-compressed", "splat-glb"]
SPLAT_SUFFIX: dict[str, str] = {"splat-ply": "_splat.ply", "splat": ".splat", "spz": ".spz", "sog": ".sog",
                                "splat-ply-compressed": ".compressed.ply", "splat-glb": "_splat.glb"}
"""Default file-name endings of each splat format (appended to the input's stem)."""


def splat_kind(path: str | os.PathLike) -> str | None:
    """The splat format of ``path`` by name (and, for ``.ply``, header): a key of :data:`SPLAT_SUFFIX` or None."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".compressed.ply"):
        return "splat-ply-compressed"
    if name == "meta.json" or name.endswith(".sog"):
        return "sog"
    if name.endswith((".spz", ".splat")):
        return name.rsplit(".", 1)[1]
    if name.endswith(".ply") and path.is_file():
        with open(path, "rb") as f:
            head = f.read(4096).split(b"end_header")[0]
        if b"element chunk" in head and b"packed_position" in head:
            return "splat-ply-compressed"
        return "splat-ply" if is_3dgs_ply(path) else None
    return None


def is_splat_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a splat file lift3d reads (a ``.ply`` only when its header has 3DGS properties)."""
    return splat_kind(path) is not None


def load_splats(path: str | os.PathLike, axes: SplatAxes = "y_down", drop_invalid: bool = False) -> SplatData:
    """Read any splat file (module docstring) into lift3d's world axes.

    Raises:
        LiftError: not a splat file, or unreadable / invalid (one line, as :func:`~lift3d.export.load_3dgs_ply`).
    """
    kind = splat_kind(path)
    if kind == "splat-ply":
        from lift3d.export.splats import load_3dgs_ply as read
    elif kind == "splat":
        from lift3d.export.splats import load_splat as read
    elif kind == "spz":
        from lift3d.export.spz import load_spz as read
    elif kind == "sog":
        from lift3d.export.sog import load_sog as read
    elif kind == "splat-ply-compressed":
        from lift3d.export.compressed_ply import load_compressed_ply as read
    else:
        raise LiftError(f"{path} is not a splat file lift3d reads (.ply with 3DGS properties, .compressed.ply, "
                        ".splat, .spz, .sog or SOG meta.json).")
    return read(path, axes=axes, drop_invalid=drop_invalid)


def save_splats(splats: SplatData, path: str | os.PathLike, fmt: SplatFormat, axes: SplatAxes = "y_down",
                sh_degree: int | None = None, overwrite: bool = False) -> list[Path]:
    """Write ``splats`` as ``fmt``; returns the written files. ``sh_degree`` applies to every format but ``.splat``."""
    if sh_degree is not None:
        splats = splats.with_sh_degree(sh_degree)
    if fmt == "splat-ply":
        from lift3d.export.splats import save_3dgs_ply

        return [save_3dgs_ply(splats, path, None, axes, overwrite)]
    if fmt == "splat":
        from lift3d.export.splats import save_splat

        return [save_splat(splats, path, axes, overwrite)]
    if fmt == "spz":
        from lift3d.export.spz import save_spz

        return [save_spz(splats, path, axes, overwrite)]
    if fmt == "sog":
        from lift3d.export.sog import save_sog

        return save_sog(splats, path, axes, overwrite)
    if fmt == "splat-ply-compressed":
        from lift3d.export.compressed_ply import save_compressed_ply

        return [save_compressed_ply(splats, path, axes, overwrite)]
    if fmt == "splat-glb":
        from lift3d.export.gltf_splats import save_gltf_splats

        return [save_gltf_splats(splats, path, overwrite)]
    raise LiftError(f"unknown splat format {fmt!r}; choose one of {list(SPLAT_SUFFIX)}.")


def write_splat_set(gaussians, directory: str | os.PathLike, stem: str = "splats",
                    compressed: tuple[SplatFormat, ...] = ("spz",)) -> list[Path]:
    """What a Gaussian run writes: ``<stem>.ply`` (lift3d's world axes, as runs always wrote it) and, for viewers,
    ``<stem>.spz`` (default; in the ``y_down`` axes SuperSplat shows upright). Overwrites, like a run's other outputs.

    ``gaussians``: a :class:`lift3d.scenes.gaussians.Gaussians`.
    """
    from lift3d.scenes.gaussians_ply import save_ply

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [save_ply(gaussians, directory / f"{stem}.ply")]
    splats = SplatData.from_gaussians(gaussians)
    for fmt in compressed:
        ending = {"splat-ply": "_y_down.ply", "splat-glb": ".glb"}.get(fmt, SPLAT_SUFFIX[fmt])
        written += save_splats(splats, directory / f"{stem}{ending}", fmt, "y_down", None, True)
    return written
