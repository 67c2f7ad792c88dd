"""The command-line tail shared by the prior evaluations (``python -m lift3d.train.evaluate_prior`` and
``python -m lift3d.train.evaluate_novel_view``): parse the config with tyro, run, print the JSON summary and
write it atomically to ``--output`` when given."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


def evaluation_main(config_type: type[C], evaluate: Callable[[C], dict[str, Any]], argv: list[str] | None,
                    prog: str) -> dict[str, Any]:
    """Run ``evaluate`` on the parsed ``config_type`` (whose ``output`` field may name a JSON file)."""
    from lift3d.errors import parse_args
    from lift3d.files import atomic_write_text

    cfg = parse_args(config_type, sys.argv[1:] if argv is None else argv, prog)
    summary = evaluate(cfg)
    text = json.dumps(summary, indent=2)
    output = getattr(cfg, "output", None)
    if output is not None:
        atomic_write_text(Path(output), text + "\n")
    print(text)
    return summary


__all__ = ["evaluation_main"]
