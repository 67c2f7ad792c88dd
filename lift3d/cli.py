"""The ``lift3d`` command line.

``lift3d --help`` must stay instant, so this module imports neither torch nor any subcommand:
each subcommand's module (and its config dataclasses) is imported only when that subcommand runs,
and parses its own flags with tyro through :func:`lift3d.errors.parse_args` (so flags may come before or
after subcommand selectors such as ``prior:stable-diffusion``). Every failure is one line on stderr, never a
traceback: user errors (:class:`lift3d.types.LiftError`) exit 1, usage errors (unknown flags, bad values)
exit 2, and anything unexpected exits 1 naming the error and a log file with its full traceback
(:func:`lift3d.errors.report_crash`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, a one-line summary, and the module whose ``main(argv, prog)`` runs it (imported only
    when the subcommand runs)."""

    name: str
    summary: str
    module: str

    def run(self, argv: list[str]) -> None:
        import importlib

        importlib.import_module(self.module).main(argv, prog=f"lift3d {self.name}")


COMMANDS: tuple[Command, ...] = (
    Command("generate", "text-to-3D: optimize a scene with a diffusion prior (bundled 32 px prior by default)",
            "lift3d.pipelines.generate"),
    Command("reconstruct", "image-to-3D: feed-forward triplane-Gaussian model, optimization, or both",
            "lift3d.pipelines.reconstruct"),
    Command("edit", "edit an asset (run folder, splats, mesh) with a text prompt: DDS against the source + identity",
            "lift3d.pipelines.edit"),
    Command("texture", "paint a UV texture on a fixed mesh with a diffusion prior (SDS default); textured GLB/OBJ",
            "lift3d.pipelines.texture"),
    Command("batch", "run a file of prompts/images as Ray tasks (local or cluster); retries, resumable JSONL manifest",
            "lift3d.batch.runner"),
    Command("bench", "ground-truth shoot-out: presets x guidances x scenes x prompts x seeds as batch jobs; report",
            "lift3d.bench.cli"),
    Command("eval", "compare a run with the procedural ground truth (IoU, retrieval, Chamfer, colour, surface); JSON",
            "lift3d.pipelines.evaluate"),
    Command("export", "convert splats and meshes: .ply/.splat/.spz/.sog/glTF splats, textured GLB/OBJ/PLY/USDZ, video",
            "lift3d.export.cli"),
    Command("view", "browser viewer on localhost: orbit a run (live with generate --viewer), its checkpoints, or a file",
            "lift3d.viewer.cli"),
    Command("train-prior", "train the bundled text+camera prior (or `novel-view`, the novel-view prior; resumable)",
            "lift3d.train.prior_cli"),
    Command("train-reward", "train the bundled contrastive text-image reward model (tiny CLIP; resumable)",
            "lift3d.train.reward"),
    Command("train-recon", "train the bundled image-to-3D reconstruction model (resumable; accelerate launch for DDP)",
            "lift3d.recon.train"),
    Command("make-dataset", "write procedural multi-view dataset shards (RGB, alpha, depth, normals, cameras, captions)",
            "lift3d.data.write"),
    Command("playground", "optimize one image (or a 2x2 view set) with any guidance and prior; writes a progress grid",
            "lift3d.pipelines.playground"),
)


def _usage() -> str:
    width = max(len(c.name) for c in COMMANDS)
    lines = [
        "usage: lift3d COMMAND [OPTIONS]",
        "",
        "lift3d turns text prompts and images into 3D assets (Gaussians, NeRF grids, triplanes, meshes).",
        "",
        "commands:",
        *(f"  {c.name.ljust(width)}  {c.summary}" for c in COMMANDS),
        "",
        "Run 'lift3d COMMAND --help' for the options of a command.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lift3d`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from importlib.metadata import version

        print(f"lift3d {version('lift3d')}")
        return 0
    by_name = {c.name: c for c in COMMANDS}
    command = by_name.get(args[0])
    if command is None:
        print(f"lift3d: error: unknown command {args[0]!r}; choose one of: {', '.join(by_name)} (see lift3d --help)",
              file=sys.stderr)
        return 2
    return _run(command, args[1:])


def _run(command: Command, argv: list[str]) -> int:
    """Run ``command`` on ``argv``; every way it can fail ends in one line on stderr and an exit code."""
    from lift3d.types import LiftError

    try:
        command.run(argv)
    except LiftError as e:
        print(f"lift3d {command.name}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lift3d {command.name}: interrupted; rerun with --resume to continue from the last checkpoint",
              file=sys.stderr)
        return 130
    except SystemExit as e:  # --help (0); usage errors (2) already printed their line in parse_args
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(f"lift3d {command.name}: error: {e.code}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: one line naming it and the log with its traceback
        if isinstance(e, BrokenPipeError) and _stdout_closed():
            return 141  # our reader went away (``lift3d ... --help | head``): stop quietly, as on SIGPIPE
        from lift3d.errors import report_crash

        print(report_crash(command.name, argv, e), file=sys.stderr)
        return 1
    return 0


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (not, say, a socket of the viewer); if so, it is pointed
    at /dev/null so that Python's own flush at exit does not fail again."""
    import os
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        closed = any(events & select.POLLERR for _, events in poller.poll(0))
        if closed:
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or stdout is not a file
        return False
    return closed


if __name__ == "__main__":
    sys.exit(main())
