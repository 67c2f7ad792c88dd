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
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, a one-line summary, and a function that imports and runs it."""

    name: str
    summary: str
    run: Callable[[list[str]], None]


def _playground(argv: list[str]) -> None:
    from lift3d.errors import parse_args
    from lift3d.pipelines.playground import PlaygroundConfig, run_playground

    path = run_playground(parse_args(PlaygroundConfig, argv, "lift3d playground"))
    print(f"progress grid: {path}", file=sys.stderr)


def _train_prior(argv: list[str]) -> None:
    from lift3d.train.prior import main

    main(argv, prog="lift3d train-prior")


def _train_reward(argv: list[str]) -> None:
    from lift3d.train.reward import main

    main(argv, prog="lift3d train-reward")


def _generate(argv: list[str]) -> None:
    from lift3d.pipelines.generate import main

    main(argv, prog="lift3d generate")


def _eval(argv: list[str]) -> None:
    from lift3d.pipelines.evaluate import main

    main(argv, prog="lift3d eval")


def _export(argv: list[str]) -> None:
    from lift3d.export.cli import main

    main(argv, prog="lift3d export")


def _reconstruct(argv: list[str]) -> None:
    from lift3d.pipelines.reconstruct import main

    main(argv, prog="lift3d reconstruct")


def _train_recon(argv: list[str]) -> None:
    from lift3d.recon.train import main

    main(argv, prog="lift3d train-recon")


def _batch(argv: list[str]) -> None:
    from lift3d.batch.runner import main

    main(argv, prog="lift3d batch")


def _view(argv: list[str]) -> None:
    from lift3d.viewer.cli import main

    main(argv, prog="lift3d view")


def _make_dataset(argv: list[str]) -> None:
    from lift3d.data.write import main

    main(argv, prog="lift3d make-dataset")


COMMANDS: tuple[Command, ...] = (
    Command("generate", "text-to-3D: optimize a scene with a diffusion prior (bundled 32 px prior by default)", _generate),
    Command("reconstruct", "image-to-3D: feed-forward triplane-Gaussian model, optimization, or both", _reconstruct),
    Command("batch", "run a file of prompts/images as Ray tasks (local or cluster); retries, resumable JSONL manifest", _batch),
    Command("eval", "compare a run with the procedural ground truth (IoU, retrieval, Chamfer, colour); JSON report", _eval),
    Command("export", "convert splats and meshes: 3DGS .ply <-> .splat, splats -> textured GLB/OBJ/PLY, mesh -> mesh", _export),
    Command("view", "browser viewer on localhost: orbit a run (live with generate --viewer), its checkpoints, or a .ply/.glb", _view),
    Command("train-prior", "train the bundled text+camera prior on the procedural world (resumable)", _train_prior),
    Command("train-reward", "train the bundled contrastive text-image reward model (tiny CLIP; resumable)", _train_reward),
    Command("train-recon", "train the bundled image-to-3D reconstruction model (resumable; accelerate launch for DDP)", _train_recon),
    Command("make-dataset", "write procedural multi-view dataset shards (RGB, alpha, depth, normals, cameras, captions)", _make_dataset),
    Command("playground", "optimize one image (or a 2x2 view set) with any guidance and prior; writes a progress grid", _playground),
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
