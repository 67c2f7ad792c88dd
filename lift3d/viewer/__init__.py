"""``lift3d view``: a browser viewer for runs and exported files, live during training, and the static
``index.html`` written next to each result. See docs/viewer.md.

* :mod:`lift3d.viewer.sources` — what can be shown (a run's checkpoints, splat and mesh files; readers picked by
  :mod:`lift3d.viewer.file_kinds`).
* :mod:`lift3d.viewer.modes` — render modes: rgb, alpha, depth, normals of a renderer's output.
* :mod:`lift3d.viewer.orbit` — the orbit camera the page drives.
* :mod:`lift3d.viewer.frames` — renders PNG frames, capping the CPU share of live refreshes.
* :mod:`lift3d.viewer.server` — the loopback HTTP server and its security checks; :mod:`lift3d.viewer.api` its
  JSON/PNG endpoints (query parameters: :mod:`lift3d.viewer.query`).
* :mod:`lift3d.viewer.run_data` — a run's loss curves and validation grids.
* :mod:`lift3d.viewer.exports` — the export action, in the formats ``lift3d export`` writes.
* :mod:`lift3d.viewer.live` — the cheap hook ``lift3d generate --viewer`` calls once per step.
* :mod:`lift3d.viewer.static_page` — the self-contained three.js page for sharing.
"""
