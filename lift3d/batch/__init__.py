"""``lift3d batch``: many generate/reconstruct/edit/texture jobs as Ray tasks, with a resumable JSONL manifest.

* :mod:`lift3d.batch.jobs`: reading a jobs file (prompts .txt, .csv or .jsonl) into typed rows: :class:`Job`
  (generate/reconstruct), :class:`EditJob`, :class:`TextureJob`.
* :mod:`lift3d.batch.resolve`: turning rows into full, validated run configs (before any compute).
* :mod:`lift3d.batch.manifest`: the append-only manifest and which jobs are finished.
* :mod:`lift3d.batch.worker`: what one Ray task runs.
* :mod:`lift3d.batch.runner`: submitting, retrying (Ray's ``max_retries``), recording, the CLI.

Ray is an optional dependency (``pip install lift3d[distributed]``); only the runner imports it.
"""

from lift3d.batch.jobs import AnyJob, EditJob, Job, TextureJob, read_jobs
from lift3d.batch.manifest import Manifest
from lift3d.batch.resolve import BatchJob, resolve_jobs

__all__ = ["AnyJob", "BatchJob", "EditJob", "Job", "Manifest", "TextureJob", "read_jobs", "resolve_jobs"]
