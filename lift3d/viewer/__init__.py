"""``lift3d view``: a browser viewer for runs and exported files, live during training, and the static
``index.html`` written next to each result. See docs/viewer.md.

* :mod:`lift3d.viewer.sources` — what can be shown (a run's checkpoints, a splat .ply, a mesh file).
* :mod:`lift3d.viewer.orbit` — the orbit camera the page drives.
* :mod:`lift3d.viewer.frames` — renders PNG frames, capping the CPU share of live refreshes.
* :mod:`lift3d.viewer.server` — the loopback HTTP server and its JSON/PNG endpoints.
* :mod:`lift3d.viewer.live` — the cheap hook ``lift3d generate --viewer`` calls once per step.
* :mod:`lift3d.viewer.static_page` — the self-contained three.js page for sharing.
"""
