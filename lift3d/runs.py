"""Run directories, atomic checkpoints and exact resume.

Layout of a run (``outputs/<name>/<timestamp>/`` by default)::

    config.json     the full config with kind tags and schema version (lift3d.config)
    command.txt     the command line that started the run
    env.json        package versions, python, platform, device, seed
    metrics.jsonl   one JSON object per logged step
    ckpt/step_00000100/{state.safetensors, state.json}
    media/          validation renders, turntables, exports

A checkpoint is written into a hidden temporary directory and renamed into place (atomic on POSIX),
so an interrupted save never damages the previous checkpoint. ``state.json`` holds the non-tensor
parts of the state (optimizer hyper-parameters, step, scalars) and the SHA-256 of the tensor file;
tensors (parameters, optimizer moments, RNG states) live in safetensors. Nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from lift3d.files import atomic_write_text
from lift3d.types import LiftError

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"
_INTKEYS = "__intkeys__"


def flatten_state(tree: Any, tensors: dict[str, torch.Tensor] | None = None, prefix: str = "") -> tuple[Any, dict]:
    """Split a nested state (dicts, lists, tuples, tensors, scalars) into JSON and a flat tensor dict.

    Tensors are replaced by ``{"__tensor__": key}``; dicts with integer keys (optimizer state) are
    tagged so they come back with integer keys.
    """
    tensors = {} if tensors is None else tensors
    if isinstance(tree, torch.Tensor):
        key = prefix or "root"
        tensors[key] = tree.detach().cpu().contiguous()
        return {_TENSOR: key}, tensors
    if isinstance(tree, dict):
        intkeys = bool(tree) and all(isinstance(k, int) for k in tree)
        out = {str(k): flatten_state(v, tensors, f"{prefix}.{k}" if prefix else str(k))[0] for k, v in tree.items()}
        return ({_INTKEYS: out} if intkeys else out), tensors
    if isinstance(tree, tuple):
        return {_TUPLE: [flatten_state(v, tensors, f"{prefix}.{i}")[0] for i, v in enumerate(tree)]}, tensors
    if isinstance(tree, list):
        return [flatten_state(v, tensors, f"{prefix}.{i}")[0] for i, v in enumerate(tree)], tensors
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree, tensors
    raise TypeError(f"cannot checkpoint a value of type {type(tree).__name__} at {prefix!r}")


def unflatten_state(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(tree, dict):
        if set(tree) == {_TENSOR}:
            return tensors[tree[_TENSOR]]
        if set(tree) == {_TUPLE}:
            return tuple(unflatten_state(v, tensors) for v in tree[_TUPLE])
        if set(tree) == {_INTKEYS}:
            return {int(k): unflatten_state(v, tensors) for k, v in tree[_INTKEYS].items()}
        return {k: unflatten_state(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unflatten_state(v, tensors) for v in tree]
    return tree


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(directory: Path, step: int, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` as ``directory/step_{step:08d}``; returns the checkpoint folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step_{step:08d}"
    tmp = directory / f".tmp-step_{step:08d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    tree, tensors = flatten_state(state)
    save_file(tensors, str(tmp / "state.safetensors"))
    meta = {"step": step, "state": tree, "sha256": _sha256(tmp / "state.safetensors")}
    with open(tmp / "state.json", "w") as f:
        json.dump(meta, f)
        f.flush()
        os.fsync(f.fileno())
    if final.exists():  # re-saving the same step: swap the old one out only after the new one is complete
        old = directory / f".old-step_{step:08d}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    return final


def load_checkpoint(path: Path) -> tuple[int, dict[str, Any]]:
    """Load a checkpoint folder written by :func:`save_checkpoint`.

    Raises:
        LiftError: one line naming the file and what to do when it is missing, truncated or corrupt.
    """
    path = Path(path)
    meta_path, tensor_path = path / "state.json", path / "state.safetensors"
    fix = "delete it to resume from the previous checkpoint, or start the run again with --overwrite"
    try:
        meta = json.loads(meta_path.read_text())
        step, tree, digest = int(meta["step"]), meta["state"], meta["sha256"]
    except FileNotFoundError:
        raise LiftError(f"checkpoint {path} has no state.json: it is not a lift3d checkpoint") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise LiftError(f"checkpoint metadata {meta_path} is corrupt; {fix}") from None
    if not tensor_path.is_file() or _sha256(tensor_path) != digest:
        raise LiftError(f"checkpoint tensors {tensor_path} are missing, truncated or corrupt; {fix}")
    return step, unflatten_state(tree, load_file(str(tensor_path)))


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint folders in ``directory``, oldest first (temporary folders are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith("step_"))


def latest_valid_checkpoint(directory: Path) -> tuple[Path, int, dict[str, Any]] | None:
    """The newest checkpoint that loads and verifies, skipping damaged ones (with a warning)."""
    for path in reversed(list_checkpoints(directory)):
        try:
            step, state = load_checkpoint(path)
        except LiftError as e:
            print(f"warning: skipping {e}", file=sys.stderr)
            continue
        return path, step, state
    return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``) and its vector ISA as
    torch sees it: run times differ several-fold between the machines of one core count (measured: an AVX2-only
    EPYC ran the novel-view prior's training step 3.4x slower than an AVX-512 Xeon)."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or "unknown CPU"
    try:
        isa = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # torch builds without the query
        return name
    return f"{name} ({isa})"


def environment_info(seed: int | None = None) -> dict[str, Any]:
    """Package versions, python, platform, CPU model and device, for ``env.json``."""
    versions = {}
    for pkg in ("lift3d", "torch", "diffusers", "transformers", "gsplat", "nerfacc", "trimesh", "tyro", "peft"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    cuda = torch.cuda.is_available()
    return {
        "versions": versions,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({os.cpu_count()} cores)",
        "cuda": cuda,
        "torch_threads": torch.get_num_threads(),
        "seed": seed,
    }


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise LiftError(f"cannot write to {path} ({e.strerror or e}); choose another output folder with --output") from None


@contextlib.contextmanager
def deterministic_ops(device: torch.device) -> Iterator[None]:
    """On CPU, torch's deterministic kernels while the block runs (the previous setting comes back after), so a
    run is repeatable from its seed and a resumed run equals an uninterrupted one bit for bit.

    Measured: with 2 threads the backward of advanced indexing (an accumulating ``index_put``, e.g.
    ``vertices[faces]`` in the mesh renderer and regularizers) summed in a varying order, and two identical
    ``generate`` runs drifted apart in the mesh stage. CUDA runs keep their fast kernels (gsplat, nerfacc and
    nvdiffrast use atomics; bitwise repeatability is a CPU guarantee)."""
    if device.type != "cpu":
        yield
        return
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn)


def _check_creatable(path: Path) -> None:
    """``path`` exists as a writable folder, or its nearest existing ancestor is a writable folder."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise LiftError(f"cannot write to {path} ({probe} is not a writable folder); choose another output "
                        "folder with --output")


@dataclass
class RunDir:
    """One run's folder; create it with :meth:`create`."""

    path: Path

    @property
    def ckpt_dir(self) -> Path:
        return self.path / "ckpt"

    @property
    def media_dir(self) -> Path:
        return self.path / "media"

    @staticmethod
    def locate(
        output: Path | None = None,
        name: str = "run",
        root: Path = Path("outputs"),
        resume: bool = False,
        overwrite: bool = False,
    ) -> Path:
        """The run folder :meth:`create` would open, after every check it makes, without touching the disk:
        a pipeline locates its folder first, loads its models, and creates the folder only once the run can
        start (so a missing model leaves nothing behind and ``--overwrite`` deletes nothing).

        Args:
            output: explicit folder; default ``root/name/<timestamp>`` (or, with ``resume``, the newest
                run under ``root/name``).
            resume: continue the run in ``output`` (or the newest one) from its newest valid checkpoint.
            overwrite: replace an existing ``output``. Without ``resume`` or ``overwrite`` an existing
                non-empty folder is an error, so nothing saved is lost.
        """
        if resume and overwrite:
            raise LiftError("--resume and --overwrite exclude each other; pick one")
        if output is None:
            base = Path(root) / name
            if resume:
                previous = sorted(p for p in base.glob("*") if p.is_dir()) if base.is_dir() else []
                if not previous:
                    raise LiftError(f"nothing to resume under {base}; drop --resume to start a new run")
                output = previous[-1]
            else:
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                output = base / stamp
                n = 1
                while output.exists():
                    output = base / f"{stamp}-{n}"
                    n += 1
        output = Path(output)
        if output.exists() and not output.is_dir():
            raise LiftError(f"{output} exists and is a file; choose another --output")
        exists = output.is_dir() and any(output.iterdir())
        if resume and not exists:
            raise LiftError(f"cannot resume: {output} does not exist or is empty; drop --resume")
        if exists and not resume and not overwrite:
            raise LiftError(f"run folder {output} already exists; pass --resume to continue it or --overwrite to replace it")
        _check_creatable(output)
        return output

    @classmethod
    def create(
        cls,
        output: Path | None = None,
        name: str = "run",
        root: Path = Path("outputs"),
        resume: bool = False,
        overwrite: bool = False,
    ) -> RunDir:
        """Open a run folder (the checks of :meth:`locate`, then ``--overwrite``'s deletion and the folders)."""
        output = cls.locate(output, name, root, resume, overwrite)
        if output.is_dir() and any(output.iterdir()) and not resume:
            shutil.rmtree(output)
        _check_writable(output)
        run = cls(output)
        run.ckpt_dir.mkdir(exist_ok=True)
        run.media_dir.mkdir(exist_ok=True)
        return run

    def write_metadata(self, config: Any, command: list[str] | None = None, seed: int | None = None) -> None:
        """Write config.json, command.txt and env.json (a resumed run keeps its original config)."""
        from lift3d.config import save_config

        save_config(config, self.path / "config.json")
        argv = sys.argv if command is None else command
        atomic_write_text(self.path / "command.txt", " ".join(argv) + "\n")
        atomic_write_text(self.path / "env.json", json.dumps(environment_info(seed), indent=2) + "\n")

    def log_metrics(self, step: int, **values: float) -> None:
        """Append one line to metrics.jsonl."""
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **{k: float(v) for k, v in values.items()}}) + "\n")

    def rewind_metrics(self, step: int) -> None:
        """Drop metrics logged after ``step`` (they belong to steps a resumed run will redo)."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return
        keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        atomic_write_text(path, "".join(line + "\n" for line in keep))

    def save(self, step: int, state: dict[str, Any], keep_last: int = 2) -> Path:
        """Checkpoint ``state`` at ``step`` and keep only the ``keep_last`` newest checkpoints."""
        path = save_checkpoint(self.ckpt_dir, step, state)
        for old in list_checkpoints(self.ckpt_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return path

    def latest(self) -> tuple[int, dict[str, Any]] | None:
        """(step, state) of the newest valid checkpoint, or None for a fresh run."""
        found = latest_valid_checkpoint(self.ckpt_dir)
        return None if found is None else found[1:]
