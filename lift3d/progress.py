"""A rich progress bar with ETA and live loss for long loops; silent with ``quiet``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def update(self, advance: int = 1, **metrics: float) -> None:
        """Advance the bar and show ``metrics`` (e.g. ``loss=0.12``) next to it."""
        if self._progress is None or self._task is None:
            return
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        self._progress.update(self._task, advance=advance, metrics=text)


@contextmanager
def progress_bar(description: str, total: int, completed: int = 0, quiet: bool = False) -> Iterator[_Bar]:
    """Context manager yielding a bar with ``update(advance, **metrics)``; resumes at ``completed``."""
    if quiet:
        yield _Bar(None, None)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[metrics]}"),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, completed=completed, metrics="")
        yield _Bar(progress, task)
