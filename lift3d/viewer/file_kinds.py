"""Which of lift3d's readers opens a file, and what the viewer can convert it to.

Splats: every file :func:`lift3d.export.splat_files.load_splats` reads (3DGS ``.ply``, ``.compressed.ply``,
``.splat``, ``.spz``, ``.sog``, SOG ``meta.json``) and ``KHR_gaussian_splatting`` ``.glb`` files
(:func:`lift3d.export.gltf_splats.load_gltf_splats`, +Y up by the glTF spec whatever ``--splat-axes`` says).
Meshes: ``.glb``/``.gltf``/``.obj``/``.ply`` (:func:`lift3d.export.formats.load_mesh`).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from lift3d.export.cli import MESH_FORMATS, ExportFormat
from lift3d.export.splat_files import SPLAT_SUFFIX, is_splat_file
from lift3d.export.splats import SplatAxes, SplatData
from lift3d.types import LiftError
from lift3d.viewer.query import export_formats

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")
READABLE = ("splats (3DGS .ply, .compressed.ply, .splat, .spz, .sog, SOG meta.json, KHR_gaussian_splatting .glb) "
            "or a .glb/.gltf/.obj/.ply mesh")
_JSON_CHUNK = 0x4E4F534A


def is_gltf_splats(path: Path) -> bool:
    """Whether ``path`` is a binary glTF whose JSON lists ``KHR_gaussian_splatting`` (lift3d's splat ``.glb``)."""
    from lift3d.export.gltf_splats import EXTENSION

    if path.suffix.lower() != ".glb" or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(20)
        if len(head) < 20 or head[:4] != b"glTF":
            return False
        length, kind = struct.unpack_from("<II", head, 12)
        text = f.read(min(length, 1 << 24)) if kind == _JSON_CHUNK else b""
    try:
        tree = json.loads(text)
    except ValueError:
        return False
    return isinstance(tree, dict) and EXTENSION in tree.get("extensionsUsed", [])


def is_splats(path: Path) -> bool:
    """Whether ``path`` holds splats lift3d reads (either kind of the module docstring)."""
    return is_gltf_splats(path) or is_splat_file(path)


def read_splats(path: Path, axes: SplatAxes) -> SplatData:
    """The splats of ``path`` in lift3d's world; a corrupt file is one :class:`LiftError` line."""
    try:
        if is_gltf_splats(path):
            from lift3d.export.gltf_splats import load_gltf_splats

            return load_gltf_splats(path)
        from lift3d.export.splat_files import load_splats

        return load_splats(path, axes)
    except LiftError:
        raise
    except Exception as e:  # plyfile, zipfile, struct... raise many types on truncated/corrupt files
        raise LiftError(f"cannot read {path} as splats ({type(e).__name__}: {e}); the file may be corrupt") from None


def conversions(path: Path) -> list[ExportFormat]:
    """The formats the viewer converts ``path`` to: splats to every splat format and, except glTF splats (which
    ``lift3d export`` does not read), to meshes; a mesh to the mesh formats. Never video (no run to render)."""
    if is_gltf_splats(path):
        return [f for f in export_formats() if f in SPLAT_SUFFIX]
    if is_splat_file(path):
        return [f for f in export_formats() if f != "video"]
    return [f for f in export_formats() if f in MESH_FORMATS]
