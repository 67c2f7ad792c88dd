"""Editing and texturing quality on the procedural world: ``lift3d edit`` (DDS against the SDS baseline) and
``lift3d texture``, scored against the ground truth of ``lift3d.data``.

    OMP_NUM_THREADS=1 python benchmarks/edit_quality.py --task colour --out outputs/edit-quality
    OMP_NUM_THREADS=1 python benchmarks/edit_quality.py --task shape --shard 0/2 &   # two processes, 2 cores
    OMP_NUM_THREADS=1 python benchmarks/edit_quality.py --task texture --shard 1/2
    python benchmarks/edit_quality.py --task all --report        # tables from the results so far

Sources are the families' canonical ground-truth meshes (``ground_truth(family, colour).mesh(48)``, a
vertex-coloured PLY in lift3d's +Z-up world). Three tasks:

* ``colour``: "a red cube" -> "a blue cube" style edits, ``--mode geometry+appearance`` (geometry may move, so
  keeping it is measured, not imposed), with DDS and with SDS. Scored: the nearest palette colour of the mean
  albedo (target colour right?), 16-view silhouette IoU with the unedited source, retrieval of the family.
* ``shape``: "a red cube" -> "a red sphere", geometry + appearance, DDS and SDS. Scored: the target family
  retrieved (silhouettes against every family's ground truth), the colour kept, IoU with the target.
* ``texture``: ``lift3d texture`` on the ground-truth mesh of 5 families x the 10 palette colours (SDS). Scored:
  colour right, geometry bit-identical (the GLB's positions and faces against the input's), and each GLB through
  the Khronos glTF-Validator when ``tools/dcc`` has it.

Edit pairs are split like the prompts of :mod:`lift3d.data.splits`: ``TUNING_EDITS`` are the two edits the edit
defaults (DDS's scale and range, the identity weight) were looked at on (docs/edit.md); every edit listed in
``COLOUR_EDITS`` and ``SHAPE_EDITS`` is held out from that choice and is what the tables report.

Results are appended to ``results.jsonl`` under ``--out`` (one line per run; a rerun skips what is there).
The last line is ``edit_quality: ... ratio=...`` with ratio = DDS's IoU with the source on colour edits over
SDS's (above 1: DDS keeps identity better).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lift3d.cameras import Cameras
from lift3d.guidance import DDSConfig, SDSConfig
from lift3d.pipelines.edit import EditConfig, EditStage, edit, resolve_source
from lift3d.pipelines.evaluate import evaluate_asset, ground_truth
from lift3d.pipelines.load import load_generate_run
from lift3d.pipelines.shape_metrics import eval_cameras, silhouette_iou
from lift3d.pipelines.texture import TextureConfig, TextureStage, texture
from lift3d.runs import cpu_model

TUNING_EDITS: tuple[tuple[str, str, str, str], ...] = (("cube", "red", "cube", "blue"),
                                                       ("sphere", "green", "sphere", "yellow"))
"""(source family, source colour, target family, target colour) of the edits the defaults were looked at on."""

COLOUR_EDITS: tuple[tuple[str, str, str, str], ...] = (
    ("cube", "yellow", "cube", "purple"), ("sphere", "red", "sphere", "cyan"), ("cone", "blue", "cone", "orange"),
    ("torus", "green", "torus", "pink"), ("cylinder", "white", "cylinder", "red"),
    ("pyramid", "cyan", "pyramid", "brown"), ("capsule", "purple", "capsule", "green"),
    ("octahedron", "orange", "octahedron", "blue"), ("mushroom", "pink", "mushroom", "yellow"),
    ("table", "brown", "table", "white"),
)
SHAPE_EDITS: tuple[tuple[str, str, str, str], ...] = (
    ("cube", "red", "sphere", "red"), ("sphere", "blue", "cube", "blue"), ("cylinder", "green", "capsule", "green"),
    ("capsule", "yellow", "cylinder", "yellow"), ("sphere", "orange", "octahedron", "orange"),
    ("octahedron", "purple", "sphere", "purple"), ("cone", "cyan", "pyramid", "cyan"),
    ("pyramid", "pink", "cone", "pink"), ("cube", "white", "cylinder", "white"),
    ("cylinder", "brown", "cube", "brown"),
)
"""Genus-0 pairs: a mesh edit moves vertices and cannot change topology (no torus from a sphere)."""
TEXTURE_FAMILIES: tuple[str, ...] = ("cube", "sphere", "torus", "cone", "mushroom")
GUIDANCES = {"dds": DDSConfig(), "sds": SDSConfig()}


@dataclass(frozen=True)
class Job:
    task: str
    key: str
    src: tuple[str, str]
    dst: tuple[str, str]
    guidance: str


def jobs(task: str) -> Iterator[Job]:
    from lift3d.data.palette import PALETTE

    if task in ("colour", "all"):
        for sf, sc, tf, tc in COLOUR_EDITS:
            for g in GUIDANCES:
                yield Job("colour", f"colour/{sc}_{sf}-{tc}_{tf}/{g}", (sf, sc), (tf, tc), g)
    if task == "appearance":  # the colour edits with geometry frozen (not part of "all": it cannot move geometry)
        for sf, sc, tf, tc in COLOUR_EDITS:
            yield Job("appearance", f"appearance/{sc}_{sf}-{tc}_{tf}/dds", (sf, sc), (tf, tc), "dds")
    if task in ("shape", "all"):
        for sf, sc, tf, tc in SHAPE_EDITS:
            for g in GUIDANCES:
                yield Job("shape", f"shape/{sc}_{sf}-{tc}_{tf}/{g}", (sf, sc), (tf, tc), g)
    if task in ("texture", "all"):
        for family in TEXTURE_FAMILIES:
            for colour in PALETTE:
                yield Job("texture", f"texture/{colour.name}_{family}", (family, "white"), (family, colour.name), "sds")


def source_mesh(out: Path, family: str, colour: str) -> Path:
    path = out / "sources" / f"{colour}_{family}.ply"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        ground_truth(family, colour).mesh(48).export(path)
    return path


def _alpha(rig, cams: Cameras) -> torch.Tensor:
    return rig.render_albedo(cams).alpha.cpu()


def run_edit(job: Job, out: Path, steps: int) -> dict:
    src = source_mesh(out, *job.src)
    prompt, source_prompt = f"a {job.dst[1]} {job.dst[0]}", f"a {job.src[1]} {job.src[0]}"
    run = out / "runs" / job.key
    mode = "appearance" if job.task == "appearance" else "geometry+appearance"
    cfg = EditConfig(source=src, prompt=prompt, source_prompt=source_prompt, mode=mode,
                     stage=EditStage(guidance=GUIDANCES[job.guidance], steps=steps), output=run, overwrite=True,
                     quiet=True, turntable_frames=8, val_every=10_000)
    start = time.perf_counter()
    edit(cfg)
    seconds = time.perf_counter() - start
    _, rig = load_generate_run(run)
    source = resolve_source(src)
    source_rig = source.build(source.scene, torch.device("cpu"), None)
    cams = eval_cameras(64)
    with torch.no_grad():
        iou_source = float(silhouette_iou(_alpha(rig, cams), _alpha(source_rig, cams)))
        report = evaluate_asset(prompt, lambda c: _alpha(rig, c), lambda c: rig.render_albedo(c).rgb.cpu(), rig.mesh())
    return {"iou_source": iou_source, "iou_target": report.iou, "retrieved": report.retrieved,
            "retrieval_correct": report.retrieval_correct, "colour": report.predicted_colour,
            "colour_correct": report.colour_correct, "mean_albedo": report.mean_albedo, "chamfer": report.chamfer,
            "seconds": seconds}


DCC = Path(__file__).resolve().parent.parent / "tools" / "dcc"


def validator_errors(glb: Path) -> int | None:
    """Errors the Khronos glTF-Validator (``tools/dcc``, installed by ``tools/dcc/install.sh``) finds in ``glb``;
    None when it is not installed."""
    if not (DCC / "node_modules" / "gltf-validator").is_dir():
        return None
    done = subprocess.run(["node", str(DCC / "validate_gltf.mjs"), str(glb)], capture_output=True, text=True,
                          timeout=300, check=True)
    return int(json.loads(done.stdout.splitlines()[-1])["numErrors"])


def run_texture(job: Job, out: Path, steps: int) -> dict:
    import trimesh

    src = source_mesh(out, *job.src)
    prompt = f"a {job.dst[1]} {job.dst[0]}"
    run = out / "runs" / job.key
    cfg = TextureConfig(mesh=src, prompt=prompt, texture_size=256, stage=TextureStage(steps=steps), output=run,
                        overwrite=True, quiet=True, turntable_frames=8, val_every=10_000)
    start = time.perf_counter()
    texture(cfg)
    seconds = time.perf_counter() - start
    _, rig = load_generate_run(run)
    with torch.no_grad():
        report = evaluate_asset(prompt, lambda c: _alpha(rig, c), lambda c: rig.render_albedo(c).rgb.cpu())
    source = trimesh.load(src, process=False)
    glb = run / "export" / "mesh.glb"
    written = trimesh.load(glb, force="mesh", process=False)
    # GLB is +Y up, the PLY +Z up: lift3d's writer turns (x, y, z) into (x, z, -y); a UV seam splits vertices, so
    # each written triangle's corners must be exactly the input triangle's corners.
    pos = np.asarray(written.vertices)[np.asarray(written.faces)]
    back = np.stack([pos[..., 0], -pos[..., 2], pos[..., 1]], -1)
    want = np.asarray(source.vertices, dtype=np.float32)[np.asarray(source.faces)]
    identical = len(written.faces) == len(source.faces) and bool(np.array_equal(back.astype(np.float32), want))
    errors = validator_errors(glb)
    return {"colour": report.predicted_colour, "colour_correct": report.colour_correct,
            "mean_albedo": report.mean_albedo, "faces": len(source.faces), "geometry_identical": identical,
            "validator_errors": errors, "seconds": seconds}


def load_results(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    return {r["key"]: r for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def _pct(rows: list[dict], field: str) -> str:
    return f"{100 * sum(bool(r[field]) for r in rows) / max(len(rows), 1):.0f} %"


def report(results: dict[str, dict]) -> str:
    lines = []
    for task in ("colour", "shape", "appearance"):
        rows = [r for r in results.values() if r["task"] == task]
        if not rows:
            continue
        mode = "geometry frozen" if task == "appearance" else "geometry + appearance"
        lines += [f"\n{task} edits ({mode}):\n",
                  "| edit | guidance | retrieved | IoU with source | IoU with target | colour | s |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in sorted(rows, key=lambda r: r["key"]):
            src, dst = r["src"], r["dst"]
            lines.append(f"| {src[1]} {src[0]} -> {dst[1]} {dst[0]} | {r['guidance'].upper()} | {r['retrieved']} "
                         f"{'ok' if r['retrieval_correct'] else 'WRONG'} | {r['iou_source']:.3f} | "
                         f"{r['iou_target']:.3f} | {r['colour']} {'ok' if r['colour_correct'] else 'WRONG'} | "
                         f"{r['seconds']:.0f} |")
        for g in GUIDANCES:
            sel = [r for r in rows if r["guidance"] == g]
            if sel:
                lines.append(f"| **{len(sel)} edits** | **{g.upper()}** | **{_pct(sel, 'retrieval_correct')}** | "
                             f"**{np.mean([r['iou_source'] for r in sel]):.3f}** | "
                             f"**{np.mean([r['iou_target'] for r in sel]):.3f}** | **{_pct(sel, 'colour_correct')}** "
                             f"| {np.mean([r['seconds'] for r in sel]):.0f} |")
    rows = [r for r in results.values() if r["task"] == "texture"]
    if rows:
        lines += ["\ntexture (SDS) on ground-truth meshes:\n",
                  "| family | runs | colour right | geometry identical | validator errors | s |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for family in TEXTURE_FAMILIES:
            sel = [r for r in rows if r["dst"][0] == family]
            if sel:
                errs = [r["validator_errors"] for r in sel if r["validator_errors"] is not None]
                lines.append(f"| {family} | {len(sel)} | {_pct(sel, 'colour_correct')} | "
                             f"{_pct(sel, 'geometry_identical')} | {sum(errs) if errs else 'not run'} | "
                             f"{np.mean([r['seconds'] for r in sel]):.0f} |")
        wrong = [f"{r['dst'][1]} {r['dst'][0]} -> {r['colour']}" for r in rows if not r["colour_correct"]]
        lines.append(f"\ntexture: {_pct(rows, 'colour_correct')} colour right over {len(rows)} runs; wrong: "
                     f"{', '.join(wrong) or 'none'}")
    return "\n".join(lines)


PICTURES: dict[str, tuple[str, ...]] = {
    "edit_geometry_appearance.png": ("colour/yellow_cube-purple_cube/dds", "colour/yellow_cube-purple_cube/sds"),
    "edit_appearance.png": ("appearance/yellow_cube-purple_cube/dds",),
    "edit_shape.png": ("shape/red_cube-red_sphere/dds", "shape/red_cube-red_sphere/sds"),
    "texture.png": ("texture/blue_mushroom", "texture/orange_torus"),
}
"""Picture file -> the runs it shows, each as a row under its source (4 views at elevation 20)."""


def _row(images: torch.Tensor) -> np.ndarray:
    return (torch.cat(list(images[..., :3].clamp(0, 1)), dim=1).numpy() * 255 + 0.5).astype(np.uint8)


def pictures(out: Path, dest: Path, size: int = 96) -> list[Path]:
    """Write :data:`PICTURES` into ``dest`` from the runs under ``out`` (a picture whose runs are missing is
    skipped): the source (lit, as the rig renders it; once for consecutive runs of one source) and each result."""
    from PIL import Image

    cams = Cameras.from_spherical(torch.full((4,), 20.0), torch.tensor([30.0, 120.0, 210.0, 300.0]),
                                  torch.full((4,), 2.75), 40.0, size, size)
    written = []
    for name, keys in PICTURES.items():
        runs = [out / "runs" / k for k in keys]
        if not all((r / "config.json").is_file() for r in runs):
            continue
        rows, shown = [], None
        for run in runs:
            _, rig = load_generate_run(run)
            init = json.loads((run / "config.json").read_text())["config"]["init"]["path"]
            source = resolve_source(Path(init))
            with torch.no_grad():
                src_rig = source.build(source.scene, torch.device("cpu"), None)
                renderer = getattr(rig, "renderer", None)
                src = (renderer(src_rig.scene, cams, (1.0, 1.0, 1.0)) if renderer is not None
                       else src_rig.render(cams, (1.0, 1.0, 1.0), None))
                rows += ([] if init == shown else [_row(src.rgb)]) + [_row(rig.render(cams, (1.0, 1.0, 1.0), None).rgb)]
            shown = init
        dest.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, 0)).save(dest / name)
        written.append(dest / name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="all", choices=("colour", "shape", "texture", "appearance", "all"))
    parser.add_argument("--out", type=Path, default=Path("outputs/edit-quality"))
    parser.add_argument("--edit-steps", type=int, default=200, help="steps of each edit (the edit default: 200)")
    parser.add_argument("--texture-steps", type=int, default=100, help="steps of each texture run")
    parser.add_argument("--shard", default="0/1", help="i/n: run every n-th job starting at i (parallel processes)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only print the tables of the results so far")
    parser.add_argument("--pictures", type=Path, default=None,
                        help="also write the pictures of docs/edit.md into this folder (e.g. docs/images)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = args.out / "results.jsonl"
    index, count = (int(v) for v in args.shard.split("/"))
    if not args.report:
        for i, job in enumerate(jobs(args.task)):
            if i % count != index or job.key in load_results(path):
                continue
            run = run_texture if job.task == "texture" else run_edit
            steps = args.texture_steps if job.task == "texture" else args.edit_steps
            row = {"key": job.key, "task": job.task, "src": job.src, "dst": job.dst, "guidance": job.guidance,
                   "steps": steps, "cpu": cpu_model(), **run(job, args.out, steps)}
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    results = load_results(path)
    print(report(results))
    if args.pictures is not None:
        for picture in pictures(args.out, args.pictures):
            print(f"wrote {picture}")
    colour = [r for r in results.values() if r["task"] == "colour"]
    iou = {g: np.mean([r["iou_source"] for r in colour if r["guidance"] == g] or [float("nan")]) for g in GUIDANCES}
    print(f"edit_quality: runs={len(results)} dds_iou_source={iou['dds']:.3f} sds_iou_source={iou['sds']:.3f} "
          f"ratio={iou['dds'] / iou['sds']:.3f}", file=sys.stdout)


if __name__ == "__main__":
    main()
