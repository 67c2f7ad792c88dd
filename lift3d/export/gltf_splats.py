"""Gaussian splats as glTF 2.0 binary (``.glb``) with ``KHR_gaussian_splatting`` (Release Candidate, KhronosGroup/glTF
``extensions/2.0/Khronos/KHR_gaussian_splatting``; ../shared/reference/wave2.md section 3).

One mesh primitive with ``mode`` 0 (POINTS) and, per splat, float accessors ``POSITION`` (VEC3, with min/max),
``KHR_gaussian_splatting:ROTATION`` (VEC4 unit quaternion ``x, y, z, w``), ``:SCALE`` (VEC3, linear standard
deviations), ``:OPACITY`` (SCALAR, linear 0..1), ``:SH_DEGREE_0_COEF_0`` (VEC3, the raw DC coefficient: colour
``0.5 + 0.282095 c``) and ``:SH_DEGREE_l_COEF_n`` (VEC3, ``n = 0..2l`` for ``m = -l..l``, the 3DGS coefficient
order, Condon-Shortley phase as in 3DGS) for every whole degree ``l`` the splats have, plus ``COLOR_0`` (VEC4, DC
colour and opacity) as the fallback for viewers that draw plain points. The primitive's extension object says
``kernel: "ellipse"`` and ``colorSpace: "srgb_rec709_display"``; it is listed in ``extensionsUsed`` only (not
required: the points still draw without it).

Axes: glTF's +Y up, metres: world ``(x, y, z) -> (x, z, -y)`` as every lift3d GLB, SH rotated band by band.
Khronos glTF-Validator 2.0.0-dev.3.10 reports ``MESH_PRIMITIVE_INVALID_ATTRIBUTE`` for each extension attribute
(it knows no ``KHR_gaussian_splatting``; glTF-Validator issue #252) and nothing else (``tests/test_export_dcc_formats.py``).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import torch

from lift3d.export._atomic import write_bytes_atomic
from lift3d.export.splats import AXES, SH_C0, SplatData

EXTENSION = "KHR_gaussian_splatting"
FLOAT = 5126
TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4"}


def splat_attributes(splats: SplatData) -> dict[str, np.ndarray]:
    """The primitive's attributes (name -> ``[N, C]`` float32) of ``splats`` in glTF's +Y-up axes."""
    s = splats.rotated(AXES["y_up"])
    means, quats, log_scales, logits, sh = (t.detach().cpu().double() for t in s.fields())
    q = torch.nn.functional.normalize(quats, dim=-1)[:, [1, 2, 3, 0]]
    opacity = torch.sigmoid(logits)[:, None]
    attrs = {"POSITION": means, f"{EXTENSION}:ROTATION": q, f"{EXTENSION}:SCALE": log_scales.exp(),
             f"{EXTENSION}:OPACITY": opacity}
    for degree in range(s.sh_degree + 1):
        for n in range(2 * degree + 1):
            attrs[f"{EXTENSION}:SH_DEGREE_{degree}_COEF_{n}"] = sh[:, degree * degree + n]
    attrs["COLOR_0"] = torch.cat([(SH_C0 * sh[:, 0] + 0.5).clamp(0, 1), opacity], 1)
    return {k: np.ascontiguousarray(v.numpy(), dtype="<f4") for k, v in attrs.items()}


def encode_gltf_splats(splats: SplatData, color_space: str = "srgb_rec709_display") -> bytes:
    """GLB bytes (module docstring) of ``splats`` in lift3d's world axes."""
    attrs = splat_attributes(splats)
    n = len(splats)
    blob, views, accessors, names = bytearray(), [], [], {}
    for i, (name, data) in enumerate(attrs.items()):
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": data.nbytes, "target": 34962})
        accessor = {"bufferView": i, "componentType": FLOAT, "count": n, "type": TYPES[data.shape[1]]}
        if name == "POSITION":
            accessor.update(min=data.min(0).tolist(), max=data.max(0).tolist())
        accessors.append(accessor)
        names[name] = i
        blob += data.tobytes()
    tree = {
        "asset": {"version": "2.0", "generator": "lift3d"},
        "extensionsUsed": [EXTENSION],
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "splats"}],
        "meshes": [{"name": "splats", "primitives": [{
            "mode": 0, "attributes": names,
            "extensions": {EXTENSION: {"kernel": "ellipse", "colorSpace": color_space}}}]}],
        "buffers": [{"byteLength": len(blob)}], "bufferViews": views, "accessors": accessors,
    }
    text = json.dumps(tree, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return (struct.pack("<III", 0x46546C67, 2, total) + struct.pack("<II", len(text), 0x4E4F534A) + text
            + struct.pack("<II", len(blob), 0x004E4942) + bytes(blob))


def save_gltf_splats(splats: SplatData, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``splats`` as a ``KHR_gaussian_splatting`` GLB (module docstring)."""
    return write_bytes_atomic(path, encode_gltf_splats(splats), overwrite)


def load_gltf_splats(path: str | os.PathLike) -> SplatData:
    """Read back a GLB written by :func:`save_gltf_splats` (tests; float accessors, one primitive) into world axes."""
    raw = Path(path).read_bytes()
    json_len = struct.unpack_from("<I", raw, 12)[0]
    tree = json.loads(raw[20:20 + json_len])
    blob = raw[20 + json_len + 8:]
    prim = tree["meshes"][0]["primitives"][0]

    def read(name: str) -> torch.Tensor:
        acc = tree["accessors"][prim["attributes"][name]]
        view = tree["bufferViews"][acc["bufferView"]]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
        data = np.frombuffer(blob, "<f4", acc["count"] * width, view.get("byteOffset", 0))
        return torch.from_numpy(data.reshape(acc["count"], width).copy())

    degree = max(int(k.split("_")[-3]) for k in prim["attributes"] if "SH_DEGREE" in k)
    sh = torch.stack([read(f"{EXTENSION}:SH_DEGREE_{d}_COEF_{n}") for d in range(degree + 1)
                      for n in range(2 * d + 1)], 1)
    opacity = read(f"{EXTENSION}:OPACITY")[:, 0].clamp(1e-7, 1 - 1e-7)
    data = SplatData(read("POSITION"), read(f"{EXTENSION}:ROTATION")[:, [3, 0, 1, 2]],
                     read(f"{EXTENSION}:SCALE").log(), torch.log(opacity / (1 - opacity)), sh)
    return data.rotated(AXES["y_up"].T)
