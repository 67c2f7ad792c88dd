"""Inits: how a run's first stage starts, and the terms that come with that start. A new init is one file here
(a frozen config with ``KIND`` implementing :class:`~lift3d.pipelines.inits.base.Init`) and one entry in
:data:`INITS`.

* ``init:random`` (:mod:`.random`): the scene kind's own initialization.
* ``init:file`` (:mod:`.file`): a splat file, a mesh or a run folder's export.
* ``init:sample-reconstruct`` (:mod:`.sample`): the best of several prior samples lifted by the feed-forward model,
  with the reference-view and consensus terms (the ``instant`` preset, the default).
"""

from __future__ import annotations

from lift3d.config import choice
from lift3d.pipelines.inits.base import Init, InitContext, Start
from lift3d.pipelines.inits.file import FileInit
from lift3d.pipelines.inits.random import RandomInit
from lift3d.pipelines.inits.sample import SampleReconstruct

INITS = (SampleReconstruct, RandomInit, FileInit)
"""Every init; a Union of them is the ``init:`` subcommand choice."""

InitConfig = choice(*INITS)

__all__ = ["INITS", "FileInit", "Init", "InitConfig", "InitContext", "RandomInit", "SampleReconstruct", "Start"]
