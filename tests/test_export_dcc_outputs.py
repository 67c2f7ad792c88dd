"""Real clients on real outputs: the files that ``lift3d generate`` (every preset), ``lift3d reconstruct`` (every
mode) and ``lift3d export`` (every format, from run folders and from files) write, opened by the Khronos
glTF-Validator, Blender 3.4 and PlayCanvas splat-transform.

The pipelines run once, shrunk (16 px, 2 steps per stage, the tiny prior, 64 px textures, 1500 faces); each client
runs once on all files. Install the clients with ``tools/dcc/install.sh``; without them the module is skipped
before anything runs, and a test whose client is missing skips.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from plyfile import PlyData
from test_export_dcc import blender_imports, have_blender, have_node_clients, node_tools

from lift3d.export.asset import AssetOptions
from lift3d.pipelines.generate import StageConfig, generate
from lift3d.pipelines.inits import SampleReconstruct
from lift3d.pipelines.presets import PRESETS
from lift3d.pipelines.prior_specs import BundledPriorSpec
from lift3d.renderers.volume import VolumeRendererConfig
from lift3d.rigs.field import FieldScene
from lift3d.rigs.gaussians import GaussianScene

pytestmark = [pytest.mark.dcc, pytest.mark.skipif(not (have_node_clients() or have_blender()),
                                                  reason="no dcc client installed: run tools/dcc/install.sh")]

ASSET = AssetOptions(target_faces=1500, texture_size=64)
SMALL = ["--texture-size", "64", "--target-faces", "1500", "--resolution", "48"]
"""``lift3d export`` flags: the same small asset, splat isosurfaces on a 48^3 grid."""
PRESET_RUNS = [name for i, name in enumerate(sorted(PRESETS))
               if not any(PRESETS[name] == PRESETS[other] for other in sorted(PRESETS)[:i])]
"""Every preset once (``instant`` is the same config as ``default``, the one ``make demo`` runs)."""
MODES = ["feedforward", "optimize", "feedforward+refine"]
MESH_FILES = ["mesh.glb", "mesh.obj", "mesh.ply"]


@dataclass(frozen=True)
class Export:
    """One ``lift3d export SOURCE --format FORMAT --output exports/NAME`` call."""

    name: str
    source: str
    """A run (``generate-PRESET`` or ``reconstruct-MODE``), a run's file (``RUN/FILE``) or an earlier export."""
    format: str
    flags: tuple[str, ...] = ()
    textured: bool = True
    """Whether a mesh output must carry a base-colour texture (meshes from a vertex-coloured PLY do not)."""


EXPORTS = [
    Export("field-run.glb", "generate-dreamfusion", "glb"),
    Export("mesh-run.glb", "generate-gaussian", "glb"),
    *(Export(f"gaussian-run.{fmt}", "reconstruct-optimize", fmt) for fmt in ("glb", "obj", "ply", "splat")),
    Export("gaussian-run_splat.ply", "reconstruct-optimize", "splat-ply"),
    *(Export(f"from-splat-ply.{fmt}", "gaussian-run_splat.ply", fmt) for fmt in ("glb", "obj", "ply", "splat")),
    Export("from-run-splats_splat.ply", "reconstruct-optimize/splats.ply", "splat-ply", ("--splat-axes", "z_up")),
    Export("from-splat_splat.ply", "gaussian-run.splat", "splat-ply"),
    Export("from-splat.glb", "gaussian-run.splat", "glb"),
    Export("from-glb.obj", "generate-dreamfusion/mesh.glb", "obj"),
    Export("from-glb.ply", "generate-dreamfusion/mesh.glb", "ply"),
    Export("from-obj.glb", "generate-dreamfusion/mesh.obj", "glb"),
    Export("from-ply.glb", "generate-dreamfusion/mesh.ply", "glb", textured=False),
]
EDIT_RUNS = ["edit-appearance", "edit-geometry+appearance", "texture"]
"""``lift3d edit`` of a ground-truth cube mesh in both modes and ``lift3d texture`` of it (:func:`edit_runs`)."""
RUNS = [f"generate-{p}" for p in PRESET_RUNS] + [f"reconstruct-{m}" for m in MODES] + EDIT_RUNS
OUTPUTS = ([f"{run}/{f}" for run in RUNS for f in MESH_FILES] + [f"reconstruct-{m}/splats.ply" for m in MODES]
           + [f"exports/{e.name}" for e in EXPORTS])
SPLATS = [n for n in OUTPUTS if n.endswith((".splat", "splats.ply", "_splat.ply"))]
MESHES = [n for n in OUTPUTS if n not in SPLATS]
GLBS = [n for n in MESHES if n.endswith(".glb")]
UNTEXTURED = {f"exports/{e.name}" for e in EXPORTS if not e.textured}


def shrink(stage: StageConfig) -> StageConfig:
    """A preset's stage at 16 px, 2 steps, one view, 200 Gaussians, 16 samples per ray (tests/test_generate.py)."""
    scene = stage.scene
    if isinstance(scene, FieldScene):
        scene = replace(scene, renderer=VolumeRendererConfig(num_samples=16))
    elif isinstance(scene, GaussianScene):
        scene = replace(scene, num_points=200)
    return replace(stage, scene=scene, steps=2, resolution=16, views_per_step=1)


@pytest.fixture(scope="session")
def generate_runs(tiny_bundled_prior: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``generate-PRESET`` -> run folder of every preset, shrunk (the text-to-image-to-3D start with 2 candidates
    of 2 DDIM steps, lifted by the shipped reconstruction model, as tests/test_sample_reconstruct.py)."""
    root = tmp_path_factory.mktemp("generate")
    runs = {}
    for name in PRESET_RUNS:
        cfg = PRESETS[name]
        init = cfg.init
        if isinstance(init, SampleReconstruct):
            init = replace(init, candidates=2, ddim_steps=2, score_views=2, consensus=2)
        cfg = replace(cfg, prompt="a red cube", prior=BundledPriorSpec(tiny_bundled_prior), stage=shrink(cfg.stage),
                      refine=None if cfg.refine is None else shrink(cfg.refine), init=init, output=root / name, quiet=True,
                      turntable_frames=0, asset=ASSET)
        (runs[f"generate-{name}"],) = generate(cfg)
    return runs


@pytest.fixture(scope="module")
def reconstruct_runs(tiny_bundled_prior: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``reconstruct-MODE`` -> run folder of every mode on a procedural cube, with the shipped model (the tiny random
    one of tests/test_recon_pipeline.py makes splats too faint for a surface) and 2-3 optimization steps."""
    from PIL import Image

    from lift3d.data import procedural_object, render_object
    from lift3d.pipelines.reconstruct import REFINE, OptimizeConfig, ReconstructConfig, reconstruct
    from lift3d.recon.camera import input_camera

    root = tmp_path_factory.mktemp("reconstruct")
    out = render_object(procedural_object("cube", "red", seed=1), input_camera(24))
    rgba = torch.cat([out.rgb[0], out.alpha[0]], -1).numpy()
    Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(root / "cube.png")
    per_mode = {"feedforward": {},
                "optimize": {"prior": None, "optimize": OptimizeConfig(steps=3, num_points=200, novel_views=1)},
                "feedforward+refine": {"prior": BundledPriorSpec(path=tiny_bundled_prior), "prompt": "a red cube",
                                       "refine": replace(REFINE, steps=2, novel_views=1, novel_resolution=16)}}
    return {f"reconstruct-{mode}": reconstruct(ReconstructConfig(
        image=root / "cube.png", mode=mode, resolution=16, turntable_frames=0, quiet=True, asset=ASSET,
        output=root / mode.replace("+", "_"), **kw)) for mode, kw in per_mode.items()}


@pytest.fixture(scope="module")
def edit_runs(tiny_bundled_prior: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """:data:`EDIT_RUNS` -> run folder: the ground-truth red cube (a vertex-coloured PLY) edited to blue in each
    mode and textured, 2 steps at 16 px with the tiny prior."""
    from lift3d.pipelines.edit import EditConfig, EditStage, edit
    from lift3d.pipelines.evaluate import ground_truth
    from lift3d.pipelines.texture import TextureConfig, TextureStage, texture

    root = tmp_path_factory.mktemp("edit")
    cube = root / "cube.ply"
    ground_truth("cube", "red").mesh(48).export(cube)
    prior = BundledPriorSpec(tiny_bundled_prior)
    runs = {f"edit-{mode}": edit(EditConfig(
        source=cube, prompt="a blue cube", source_prompt="a red cube", mode=mode, prior=prior, asset=ASSET,
        stage=EditStage(steps=2, resolution=16, views_per_step=1), output=root / mode.replace("+", "_"), quiet=True,
        turntable_frames=0)) for mode in ("appearance", "geometry+appearance")}
    runs["texture"] = texture(TextureConfig(mesh=cube, prompt="a blue cube", texture_size=64, prior=prior,
                                            stage=TextureStage(steps=2, resolution=16, views_per_step=1),
                                            output=root / "texture", quiet=True, turntable_frames=0))
    return runs


@pytest.fixture(scope="module")
def outputs(generate_runs: dict[str, Path], reconstruct_runs: dict[str, Path], edit_runs: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Name in :data:`OUTPUTS` -> file: the runs' exports and every ``lift3d export`` of :data:`EXPORTS`."""
    from lift3d.cli import main

    runs = {**generate_runs, **reconstruct_runs, **edit_runs}
    files = {f"{run}/{f.name}": f for run, folder in runs.items() for f in (folder / "export").iterdir()}
    exports = tmp_path_factory.mktemp("exports")
    for e in EXPORTS:
        source = runs.get(e.source) or files.get(e.source) or files[f"exports/{e.source}"]
        target = exports / e.name
        assert main(["export", str(source), "--format", e.format, "--output", str(target), *SMALL, *e.flags]) == 0
        files.update({f"exports/{p.name}": p for p in exports.iterdir()})
    missing = set(OUTPUTS) - set(files)
    assert not missing, f"not written: {sorted(missing)}"
    return files


def lazy_outputs(request: pytest.FixtureRequest, available: bool, what: str) -> dict[str, Path]:
    """:func:`outputs`, made only once the client is known to be installed (the pipelines take a while)."""
    if not available:
        pytest.skip(f"{what} not installed: run tools/dcc/install.sh")
    return request.getfixturevalue("outputs")


@pytest.fixture(scope="module")
def validator_reports(request: pytest.FixtureRequest) -> dict[str, dict]:
    files = lazy_outputs(request, have_node_clients(), "node clients")
    reports = node_tools("validate_gltf.mjs", [files[n] for n in GLBS])
    return {n: reports[files[n]] for n in GLBS}


@pytest.fixture(scope="module")
def blender_results(request: pytest.FixtureRequest) -> dict[str, dict]:
    files = lazy_outputs(request, have_blender(), "Blender")
    results = blender_imports([files[n] for n in MESHES])
    return {n: results[files[n]] for n in MESHES}


@pytest.fixture(scope="module")
def splat_reads(request: pytest.FixtureRequest) -> dict[str, dict]:
    files = lazy_outputs(request, have_node_clients(), "node clients")
    reads = node_tools("read_splat.mjs", [files[n] for n in SPLATS], "--count")
    return {n: reads[files[n]] for n in SPLATS}


def glb_geometry(path: Path) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Vertices, triangles and POSITION bounds (file axes) of a GLB whose nodes carry no transforms."""
    data = path.read_bytes()
    gltf = json.loads(data[20 : 20 + struct.unpack_from("<I", data, 12)[0]])
    assert not any(k in node for node in gltf["nodes"] for k in ("matrix", "rotation", "scale", "translation"))
    verts = tris = 0
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for mesh in gltf["meshes"]:
        for prim in mesh["primitives"]:
            position = gltf["accessors"][prim["attributes"]["POSITION"]]
            verts += position["count"]
            tris += gltf["accessors"][prim["indices"]]["count"] // 3
            lo, hi = np.minimum(lo, position["min"]), np.maximum(hi, position["max"])
    return verts, tris, lo, hi


def obj_geometry(path: Path) -> tuple[int, int, np.ndarray, np.ndarray]:
    lines = path.read_text().splitlines()
    v = np.array([line.split()[1:4] for line in lines if line.startswith("v ")], np.float64)
    faces = [line.split()[1:] for line in lines if line.startswith("f ")]
    assert all(len(f) == 3 for f in faces)
    return len(v), len(faces), v.min(0), v.max(0)


def ply_geometry(path: Path) -> tuple[int, int, np.ndarray, np.ndarray]:
    ply = PlyData.read(str(path))
    v = np.stack([np.asarray(ply["vertex"][k], np.float64) for k in "xyz"], 1)
    return len(v), len(ply["face"].data), v.min(0), v.max(0)


def world_geometry(path: Path) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Counts and bounds read from the file's bytes, the bounds mapped to lift3d's +Z-up world: +Y-up files
    (GLB, OBJ) by ``(x, y, z) -> (x, -z, y)``, which is also what Blender's importers do; PLY unchanged."""
    suffix = path.suffix.lower()
    verts, tris, lo, hi = {".glb": glb_geometry, ".obj": obj_geometry, ".ply": ply_geometry}[suffix](path)
    if suffix != ".ply":
        lo, hi = np.array([lo[0], -hi[2], lo[1]]), np.array([hi[0], -lo[2], hi[1]])
    return verts, tris, lo, hi


def splat_count(path: Path) -> int:
    if path.suffix == ".splat":
        return path.stat().st_size // 32
    return len(PlyData.read(str(path))["vertex"].data)


def test_every_run_wrote_meshes_and_splats(generate_runs: dict[str, Path], reconstruct_runs: dict[str, Path]) -> None:
    for run, folder in {**generate_runs, **reconstruct_runs}.items():
        names = {p.name for p in (folder / "export").iterdir()}
        assert set(MESH_FILES) | {"mesh.mtl", "mesh.png"} <= names, run
        assert ("splats.ply" in names) == run.startswith("reconstruct"), run  # every generate preset ends on a mesh


@pytest.mark.parametrize("export, run", [("field-run.glb", "generate-dreamfusion"),
                                         ("mesh-run.glb", "generate-gaussian"),
                                         ("gaussian-run.glb", "reconstruct-optimize")])
def test_export_of_a_run_folder_is_the_runs_own_mesh(outputs: dict[str, Path], export: str, run: str) -> None:
    """``lift3d export RUN`` with the run's asset options rebuilds the mesh the run wrote (a reconstruct run from
    its splats.ply: it saves no checkpoint)."""
    ours, theirs = glb_geometry(outputs[f"exports/{export}"]), glb_geometry(outputs[f"{run}/mesh.glb"])
    assert ours[:2] == theirs[:2]
    np.testing.assert_array_equal(np.array(ours[2:]), np.array(theirs[2:]))


@pytest.mark.parametrize("name", GLBS)
def test_gltf_validator_finds_no_errors(validator_reports: dict[str, dict], name: str) -> None:
    report = validator_reports[name]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
    assert report["info"]["hasTextures"] == (name not in UNTEXTURED)


@pytest.mark.parametrize("name", MESHES)
def test_blender_imports_textured_upright_with_the_files_counts(outputs: dict[str, Path],
                                                                blender_results: dict[str, dict], name: str) -> None:
    got = blender_results[name]
    assert "error" not in got, got["error"]
    verts, tris, lo, hi = world_geometry(outputs[name])
    assert (got["objects"], got["vertices"], got["triangles"]) == (1, verts, tris)
    # upright: glTF/OBJ +Y arrives as Blender's +Z, so Blender's box is the file's box in lift3d's world axes
    tol = 1e-5 * max(1.0, float(np.abs([lo, hi]).max()))
    np.testing.assert_allclose(got["bbox_min"], lo, atol=tol)
    np.testing.assert_allclose(got["bbox_max"], hi, atol=tol)
    if name.endswith(".ply"):
        assert got["has_colors"]
    else:  # textured, or vertex colours on a material; never metallic (glTF's default material is)
        assert got["materials"] == 1 and got["principled"]["metallic"] == 0.0 and got["principled"]["roughness"] > 0.9
        if name in UNTEXTURED:
            assert got["has_colors"] and not got["has_image"]
        else:
            assert got["has_uv"] and got["base_color_image"]


@pytest.mark.parametrize("run", RUNS)
def test_a_runs_three_meshes_land_in_the_same_place_in_blender(blender_results: dict[str, dict], run: str) -> None:
    """mesh.glb and mesh.obj (+Y up) and mesh.ply (+Z up) of one run: the same box in Blender, the same height."""
    boxes = [np.array([blender_results[f"{run}/{f}"][k] for k in ("bbox_min", "bbox_max")]) for f in MESH_FILES]
    for box in boxes[1:]:
        np.testing.assert_allclose(box, boxes[0], atol=1e-5)


@pytest.mark.parametrize("name", SPLATS)
def test_splat_transform_reads_every_gaussian(outputs: dict[str, Path], splat_reads: dict[str, dict],
                                               name: str) -> None:
    got = splat_reads[name]
    assert "error" not in got, got["error"]
    assert got["numTables"] == 1 and got["numRows"] == splat_count(outputs[name]) > 0
    assert {"x", "y", "z", "opacity", "scale_0", "rot_0", "f_dc_0"} <= set(got["names"])
