"""What the live viewer costs a training run: the same ``lift3d generate`` stage with and without ``--viewer``.

With the viewer on, a simulated page does what ``web/live.html`` does while open: poll ``/api/state`` every
second and, when the step moved, ask for a live 256 px frame of the current scene (``live=1``: the server
caps those renders to ``duty`` of its time). Only the optimization loop (``run_stage``) is timed, not prior
loading or the final exports. Runs alternate off/on; the best (least disturbed) time of each is kept.

Usage: ``python benchmarks/viewer.py [--steps 60] [--repeats 2] [--threads 1]``.
Last line: ``viewer: off=<it/s> on=<it/s> frames=<n> ratio=<on/off>`` (target ratio >= 0.90).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import torch

import lift3d.pipelines.generate as generate_module
import lift3d.viewer.live as live_module
from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
from lift3d.pipelines.inits import RandomInit


class Page(threading.Thread):
    """A simulated open viewer page."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.frames, self.stop = url, 0, threading.Event()

    def run(self) -> None:
        shown = None
        while not self.stop.wait(1.0):
            try:
                state = json.loads(urllib.request.urlopen(self.url + "api/state", timeout=30).read())
                step = state["status"].get("step")
                if step != shown:
                    urllib.request.urlopen(self.url + f"api/frame?v=0&size=256&d={state['distance']}&live=1",
                                           timeout=60).read()
                    self.frames, shown = self.frames + 1, step
            except urllib.error.HTTPError:
                continue  # e.g. 422 before the first step: the page shows the message and keeps polling
            except OSError:
                return  # the run finished and closed the server


def timed_run(steps: int, viewer: bool, out: Path) -> tuple[float, int]:
    """Seconds spent in the optimization loop, and frames the page received."""
    loop = {"s": 0.0}
    pages: list[Page] = []
    run_stage, start_viewer = generate_module.run_stage, live_module.start_live_viewer

    def timed_stage(*args, **kwargs):
        t = time.perf_counter()
        run_stage(*args, **kwargs)
        loop["s"] += time.perf_counter() - t

    def with_page(run_dir, host, port):
        state, server = start_viewer(run_dir, host, port)
        pages.append(Page(server.url))
        pages[-1].start()
        return state, server

    generate_module.run_stage, live_module.start_live_viewer = timed_stage, with_page
    try:
        cfg = GenerateConfig(prompt="a red cube", refine=None, init=RandomInit(), stage=StageConfig(steps=steps), output=out, quiet=True,
                             val_every=max(1, steps // 3), checkpoint_every=steps, turntable_frames=2,
                             viewer=viewer, viewer_port=0)
        generate(cfg)
    finally:
        generate_module.run_stage, live_module.start_live_viewer = run_stage, start_viewer
        for page in pages:
            page.stop.set()
    return loop["s"], sum(p.frames for p in pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    best = {False: float("inf"), True: float("inf")}
    frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for viewer in (False, True):
                seconds, n = timed_run(args.steps, viewer, Path(tmp) / f"{r}-{viewer}")
                best[viewer] = min(best[viewer], seconds)
                frames += n
                print(f"repeat {r} viewer={'on' if viewer else 'off'}: {args.steps / seconds:.2f} it/s"
                      + (f", {n} live frames" if viewer else ""), flush=True)
    off, on = args.steps / best[False], args.steps / best[True]
    print(f"viewer: off={off:.2f}it/s on={on:.2f}it/s frames={frames} ratio={on / off:.3f}")


if __name__ == "__main__":
    main()
