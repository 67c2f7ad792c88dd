"""The bench grid: presets x guidances x scenes (the *methods*) x prompts x seeds, as ``lift3d batch`` job rows.

A method is a preset with, optionally, its first stage's guidance and/or scene replaced (``stage.guidance:vsd``,
``stage.scene:gaussians``); ``preset`` keeps the preset's own. Each (method, prompt, seed) is one
:class:`~lift3d.batch.jobs.Job` whose ``args`` are the method's selectors followed by the bench's extra options,
so a job's id (a hash of preset, prompt, seed and args) changes when any of them does, and a rerun with other
options never mistakes old runs for new ones.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from lift3d.batch.jobs import Job

KEEP = "preset"
"""Guidance/scene value that keeps the preset's own."""


@dataclass(frozen=True)
class Method:
    """One row of the bench report: a preset and optional first-stage guidance / scene replacements."""

    preset: str
    guidance: str = KEEP
    scene: str = KEEP

    @property
    def label(self) -> str:
        """``preset``, ``preset+vsd``, ``preset+vsd+gaussians``, ..."""
        return "+".join([self.preset] + [p for p in (self.guidance, self.scene) if p != KEEP])

    def args(self) -> tuple[str, ...]:
        """Subcommand selectors for ``lift3d generate``."""
        out = []
        if self.guidance != KEEP:
            out.append(f"stage.guidance:{self.guidance}")
        if self.scene != KEEP:
            out.append(f"stage.scene:{self.scene}")
        return tuple(out)


@dataclass(frozen=True)
class Cell:
    """One run of the grid."""

    method: Method
    prompt: str
    seed: int
    job: Job


@dataclass(frozen=True)
class Grid:
    """The whole bench: methods x prompts x seeds, with ``extra`` options for every run."""

    methods: tuple[Method, ...]
    prompts: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    extra: tuple[str, ...] = ()

    def cells(self) -> list[Cell]:
        """Every run, method-major (so the first results cover every prompt of the first method)."""
        out = []
        for method in self.methods:
            for prompt in self.prompts:
                for seed in self.seeds:
                    job = Job(f"bench:{method.label}:{prompt}:{seed}", prompt=prompt, preset=method.preset, seed=seed,
                              args=method.args() + self.extra)
                    out.append(Cell(method, prompt, seed, job))
        return out

    def write_jobs(self, path: Path) -> Path:
        """The grid as a ``lift3d batch`` jobs file (``.jsonl``); the same ids as :meth:`cells`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(c.job.spec()) + "\n" for c in self.cells()))
        return path

    def to_json(self) -> dict:
        return {"methods": [{**asdict(m), "label": m.label} for m in self.methods], "prompts": list(self.prompts),
                "seeds": list(self.seeds), "extra": list(self.extra)}


def build_grid(presets: tuple[str, ...], guidances: tuple[str, ...], scenes: tuple[str, ...],
               prompts: tuple[str, ...], seeds: tuple[int, ...], extra: tuple[str, ...] = ()) -> Grid:
    """The product grid; duplicate methods, prompts and seeds are dropped (first kept).

    Raises:
        ValueError: an empty axis.
    """
    for name, axis in (("presets", presets), ("guidances", guidances), ("scenes", scenes), ("prompts", prompts),
                       ("seeds", seeds)):
        if not axis:
            raise ValueError(f"the bench grid needs at least one of {name}")
    methods = tuple(dict.fromkeys(Method(p, g, s) for p in presets for g in guidances for s in scenes))
    return Grid(methods, tuple(dict.fromkeys(prompts)), tuple(dict.fromkeys(seeds)), tuple(extra))


__all__ = ["KEEP", "Cell", "Grid", "Method", "build_grid"]
