"""lift3d view without a browser: sources, endpoints, live hook, throttling, static page, bad input."""

from __future__ import annotations

import http.client
import io
import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from browser import assert_object_centred, mean_abs_diff
from viewer_fixtures import make_field_run, make_run, sphere_shell, two_blobs

from lift3d.cli import main as cli_main
from lift3d.export.asset import AssetOptions
from lift3d.types import LiftError
from lift3d.viewer.frames import FrameRenderer
from lift3d.viewer.orbit import Orbit
from lift3d.viewer.server import ViewerServer
from lift3d.viewer.sources import open_source

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _request(server: ViewerServer, path: str = "/api/state", method: str = "GET",
             headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPResponse, bytes]:
    """``(status, response, body)`` of one raw request to ``server`` (headers as given, Host included)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, path, headers={"Host": f"127.0.0.1:{server.port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, response, response.read()
    finally:
        conn.close()


def _refused(code: int, body: bytes, message: str) -> bool:
    error = json.loads(body)["error"]
    return code == 403 and message in error and "\n" not in error


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture
def served(tmp_path):
    server = ViewerServer(open_source(make_run(tmp_path / "run")), port=0).start()
    yield server
    server.close()


def test_state_frames_and_versions_over_http(served):
    code, body = _get(served.url + "api/state")
    state = json.loads(body)
    assert code == 200 and state["versions"] == ["stage 1 · step 10", "stage 1 · step 20"] and state["exportable"]
    frames = {}
    for v, az in ((0, 30), (0, 120), (1, 30)):
        code, body = _get(served.url + f"api/frame?v={v}&az={az}&el=20&d={state['distance']}&size=96")
        assert code == 200
        frames[v, az] = _png(body)
        assert frames[v, az].shape == (96, 96, 3)
    assert_object_centred(frames[0, 30])
    assert mean_abs_diff(frames[0, 30], frames[0, 120]) > 3.0  # orbiting changes the view
    assert mean_abs_diff(frames[0, 30], frames[1, 30]) > 1.0  # the later checkpoint is shifted
    code, body = _get(served.url)
    assert code == 200 and b"/api/frame" in body


@pytest.mark.parametrize("query, message", [("v=7", "no version 7"), ("v=x", "v must be an integer"),
                                            ("size=9999", "size must be"), ("az=nan", "not finite")])
def test_bad_frame_requests_get_one_line(served, query, message):
    code, body = _get(served.url + "api/frame?" + query)
    assert code == 422 and message in json.loads(body)["error"]


def test_validation_endpoint_refuses_paths_outside_media(served):
    assert _get(served.url + "api/validation?name=../config.json")[0] == 404


def test_port_in_use_is_one_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LiftError, match=f"port {port} on 127.0.0.1 is already in use"):
            ViewerServer(open_source(make_run(tmp_path / "run")), port=port)


def test_exposed_host_prints_a_warning(tmp_path, capsys):
    server = ViewerServer(open_source(make_run(tmp_path / "run")), host="0.0.0.0", port=0).start()
    server.close()
    assert "reachable from other machines" in capsys.readouterr().err


def test_foreign_hosts_are_refused_and_loopback_hosts_served(served):
    port = served.port
    # DNS rebinding: a web page whose own name now resolves to 127.0.0.1 sends that name
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "", f"localhost:{port}x",
                 f"192.168.1.20:{port}"):
        code, _, body = _request(served, headers={"Host": host})
        assert _refused(code, body, "is not this viewer's"), host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}", "localhost:8022",
                 "127.0.0.1"):  # any port: an ssh tunnel (-L 8022:localhost:7007) keeps working
        code, _, body = _request(served, headers={"Host": host})
        assert code == 200 and "a red cube" in json.loads(body)["title"], host


def test_cross_origin_requests_are_refused_same_origin_posts_served(served):
    export = "/api/export?v=0"
    run = served.source.run.path
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": f"http://localhost:{served.port}"},  # Host says 127.0.0.1: another origin
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        code, _, body = _request(served, export, "POST", headers)
        assert _refused(code, body, "cross-"), headers
    code, _, body = _request(served, "/api/state", headers={"Origin": "http://evil.example"})
    assert _refused(code, body, "cross-origin"), "a cross-origin fetch of the state must not be served either"
    assert not (run / "export-view").exists()
    code, _, body = _request(served, export, "POST", {"Origin": f"http://127.0.0.1:{served.port}",
                                                      "Sec-Fetch-Site": "same-origin"})
    assert code == 200 and all(Path(p).is_file() for p in json.loads(body)["written"]), body
    assert (run / "export-view").is_dir()


def test_exposed_bind_requires_the_token(tmp_path, capsys):
    server = ViewerServer(open_source(make_run(tmp_path / "run")), host="0.0.0.0", port=0).start()
    try:
        token = server.token
        assert token and len(token) >= 32 and server.page_url == f"{server.url}?token={token}"
        assert token in capsys.readouterr().err  # the warning says where to open it from elsewhere
        for path in ("/", "/api/state", "/api/frame?size=32", "/api/state?token=wrong", "/api/state?token="):
            code, _, body = _request(server, path)
            assert _refused(code, body, "needs its token"), path
        code, _, body = _request(server, "/api/export?v=0", "POST")
        assert _refused(code, body, "needs its token")
        code, response, body = _request(server, f"/?token={token}")
        cookie = response.getheader("Set-Cookie")
        assert code == 200 and b"/api/frame" in body and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        pair = cookie.split(";")[0]
        assert _request(server, "/api/state", headers={"Cookie": f"other=1; {pair}"})[0] == 200  # the page's polls
        assert _request(server, f"/api/state?token={token}")[0] == 200
        assert _request(server, "/api/state", headers={"Cookie": f"{server.cookie_name}=wrong"})[0] == 403
        # a wildcard bind answers to IP addresses and this machine's name, still not to other names
        assert _request(server, f"/api/state?token={token}", headers={"Host": f"192.0.2.7:{server.port}"})[0] == 200
        code, _, body = _request(server, f"/api/state?token={token}", headers={"Host": "evil.example"})
        assert _refused(code, body, "is not this viewer's")
    finally:
        server.close()


def test_loopback_token_on_request(served):
    assert served.token is None and served.page_url == served.url  # loopback: no token needed
    server = ViewerServer(served.source, port=0, require_token=True).start()
    try:
        assert _request(server)[0] == 403 and _request(server, f"/api/state?token={server.token}")[0] == 200
    finally:
        server.close()


def test_live_viewer_beyond_loopback_gets_the_same_checks(tmp_path, capsys):
    from lift3d.viewer.live import start_live_viewer

    _, server = start_live_viewer(make_run(tmp_path / "run"), "0.0.0.0", 0)
    try:
        printed = capsys.readouterr().err
        assert f"viewer: {server.page_url} (live" in printed and server.token in server.page_url
        assert _request(server)[0] == 403
        assert _request(server, f"/api/state?token={server.token}", headers={"Host": "evil.example"})[0] == 403
        code, _, body = _request(server, f"/api/state?token={server.token}")
        assert code == 200 and json.loads(body)["versions"][0] == "live"
    finally:
        server.close()


@pytest.mark.parametrize("args, message", [
    (["--port", "99999"], "port 99999 is out of range 0-65535; pass --port 7007"),
    (["--port", "-1"], "port -1 is out of range"),
    (["--port", "70000", "--host", "0.0.0.0"], "port 70000 is out of range"),
    (["--host", "no-such-host.invalid"], "cannot resolve host 'no-such-host.invalid'"),
    (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1: it is not an address of this machine"),
    (["--port", "HELD"], "is already in use; pass --port N"),
])
def test_bad_address_is_one_line_before_loading(tmp_path, capsys, args, message):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        args = [str(held.getsockname()[1]) if a == "HELD" else a for a in args]
        # the path does not exist: the address is checked first, before anything is loaded
        assert cli_main(["view", str(tmp_path / "missing"), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lift3d view: error: ") and message in err[0], err
    with pytest.raises(LiftError, match="out of range"):
        ViewerServer(open_source(make_run(tmp_path / "run")), port=65536)


def test_files_open_splats_and_meshes(tmp_path):
    import trimesh

    from lift3d.export.asset import write_asset
    from lift3d.scenes.gaussians_ply import save_ply

    splats = save_ply(two_blobs(), tmp_path / "splats.ply")
    box = trimesh.creation.box(extents=(0.8, 0.5, 0.6))
    box.apply_translation((2.0, 0.0, 0.0))  # off the origin: the view must frame it anyway
    glb = write_asset(box, tmp_path / "mesh")[0]
    for path in (splats, glb):
        source = open_source(path)
        assert source.versions() == [path.name]
        image = (source.render(0, Orbit(distance=_distance(source), size=64)).numpy() * 255).astype(np.uint8)
        assert_object_centred(image)
    with pytest.raises(LiftError, match="already an exported file"):
        open_source(glb).export(0)


def _distance(source) -> float:
    from lift3d.viewer.orbit import framing_distance

    return framing_distance(source.radius)


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "corrupt.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 9\n"
                                           b"property float x\nproperty float f_dc_0\nend_header\n\x00\x01")
    (tmp_path / "garbage.glb").write_bytes(b"not a glb at all")
    (tmp_path / "notes.txt").write_text("hello")
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text('{"schema_version": 1, "config": {"prompt": "a')  # cut mid-write
    run = make_run(tmp_path / "run")
    damaged = make_run(tmp_path / "damaged", steps=(10,))
    (damaged / "ckpt" / "step_00000010" / "state.safetensors").write_bytes(b"truncated")
    no_ckpt = make_run(tmp_path / "fresh", steps=())
    cases = {
        tmp_path / "missing": "does not exist",
        tmp_path / "corrupt.ply": "corrupt",
        tmp_path / "garbage.glb": "cannot read",
        tmp_path / "notes.txt": "cannot view notes.txt",
        half: "not a readable generate config",
        damaged: "no valid checkpoint",
        no_ckpt: "no valid checkpoint",
        tmp_path: "not a lift3d run folder",
    }
    for path, message in cases.items():
        assert cli_main(["view", str(path), "--port", "0"]) == 1, path
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lift3d view: error: ") and message in err[0], (path, err)
    assert run.is_dir()


def test_cli_serves_until_idle(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    import threading

    done = threading.Event()
    thread = threading.Thread(target=lambda: (cli_main(["view", str(run), "--port", "0", "--idle-timeout", "0.5"]),
                                              done.set()), daemon=True)
    thread.start()
    for _ in range(200):
        err = capsys.readouterr().err
        if "viewer: http://127.0.0.1:" in err:
            break
        done.wait(0.05)
    url = err.split("viewer: ")[1].split()[0]
    assert _get(url + "api/state")[0] == 200
    assert done.wait(10), "lift3d view did not stop after --idle-timeout"


def test_live_refreshes_are_throttled_but_new_views_render(tmp_path):
    source = open_source(make_run(tmp_path / "run"))
    source.status = lambda: {"step": 1}  # pretend a run is training
    frames = FrameRenderer(source, duty=0.01)
    orbit = Orbit(size=32)
    frames.png(0, orbit)
    for _ in range(5):
        frames.png(0, orbit, live=True)  # same view, right after: served from the last frame
    assert frames.rendered == 1
    frames.png(0, replace(orbit, azimuth=90.0), live=True)  # a different view always renders
    frames.png(0, orbit)  # an explicit request always renders
    assert frames.rendered == 3


def test_generate_with_viewer_serves_the_live_scene(tiny_bundled_prior, tmp_path, monkeypatch):
    from lift3d.pipelines.generate import GenerateConfig, StageConfig, generate
    from lift3d.pipelines.inits import RandomInit
    from lift3d.pipelines.prior_specs import BundledPriorSpec
    from lift3d.rigs.gaussians import GaussianScene
    from lift3d.viewer import live as live_module

    seen = {}
    start = live_module.start_live_viewer

    def spy(run_dir, host, port):
        state, server = start(run_dir, host, port)
        publish = state.publish

        def publish_and_look(stage, step, loss, rig):
            publish(stage, step, loss, rig)
            if step == 2:  # a page polling mid-run sees this step, its loss and the live scene
                seen["state"] = json.loads(_get(server.url + "api/state")[1])
                seen["frame"] = _get(server.url + "api/frame?v=0&size=48&live=1")
        state.publish = publish_and_look
        seen["server"] = server
        return state, server

    monkeypatch.setattr(live_module, "start_live_viewer", spy)
    stage = StageConfig(scene=GaussianScene(num_points=200, densify=None), steps=3, resolution=16, views_per_step=1)
    cfg = GenerateConfig(prompt="a red cube", refine=None, init=RandomInit(), prior=BundledPriorSpec(tiny_bundled_prior), stage=stage,
                         output=tmp_path / "run", quiet=True, val_every=1, checkpoint_every=1, turntable_frames=2,
                         viewer=True, viewer_port=0, asset=AssetOptions(texture_size=0))
    (run,) = generate(cfg)
    status = seen["state"]["status"]
    assert status["step"] == 2 and status["running"] and np.isfinite(status["loss"])
    assert status["validation"] == "val_000001.png" and seen["state"]["versions"][0] == "live"
    code, body = seen["frame"]
    assert code == 200 and _png(body).shape == (48, 48, 3)
    assert seen["server"].stopped.is_set(), "the live viewer must stop with the run"
    page = (run / "index.html").read_text()
    assert "a red cube" in page and '"splats": {"count"' in page


def _sphere_source(kind: str, tmp_path: Path):
    """A sphere of radius 0.5 at the origin as each kind of source: splats, a density field run, a mesh."""
    import trimesh

    from lift3d.export.formats import save_glb
    from lift3d.scenes.gaussians_ply import save_ply

    if kind == "gaussians":
        return open_source(save_ply(sphere_shell(), tmp_path / "sphere.ply"))
    if kind == "field":
        return open_source(make_field_run(tmp_path / "field"))
    return open_source(save_glb(trimesh.creation.icosphere(3, radius=0.5), tmp_path / "sphere.glb"))


def _renderer_alpha(source, orbit: Orbit) -> torch.Tensor:
    """``[H, W]``: the alpha lift3d's renderer itself returns for ``source``'s first version from ``orbit``."""
    with torch.no_grad():
        if hasattr(source, "scenes"):
            scene = source.scenes[0]
            return scene.render(orbit.cameras(scene.target)).alpha[0, ..., 0]
        rig, stage = source._rig(0)
        return rig.render(orbit.cameras(source.target), stage.background, None).alpha[0, ..., 0]


@pytest.mark.parametrize("kind", ["gaussians", "field", "mesh"])
def test_render_modes_of_a_sphere(tmp_path, kind):
    source = _sphere_source(kind, tmp_path)
    orbit = Orbit(size=64, distance=2.75)
    images = {mode: source.render(0, orbit, mode).numpy() for mode in ("rgb", "alpha", "depth", "normals")}
    assert all(image.shape == (64, 64, 3) for image in images.values())
    torch.testing.assert_close(torch.from_numpy(images["alpha"][..., 0]), _renderer_alpha(source, orbit).float())
    alpha = images["alpha"][..., 0]
    c = 32
    rim = c + int(np.nonzero(alpha[c, c:] > 0.9)[0].max())  # the last opaque pixel right of the centre
    assert rim - c > 8, f"the sphere is too small in the frame ({rim - c} px)"
    # depth: white at the nearest pixel, darker with distance: the centre (nearest) is brighter than the rim
    depth = images["depth"][c, c:rim + 1, 0]
    assert depth[0] > 0.95 and depth[0] > depth[-1] + 0.2, depth
    assert np.all(np.diff(depth) < 0.02), f"depth is not monotone from the centre to the rim: {depth}"
    assert images["depth"][0, 0].max() == 0.0, "empty pixels are black"
    # normals in camera space (OpenGL axes), n * 0.5 + 0.5: the centre faces the camera (+z), the right side
    # points right (+x), the top side up (+y)
    normals = images["normals"]
    np.testing.assert_allclose(normals[c, c], [0.5, 0.5, 1.0], atol=0.08)
    assert normals[c, c + (rim - c) * 3 // 4, 0] > 0.75 and normals[c - (rim - c) * 3 // 4, c, 1] > 0.75
    if kind != "field":
        assert images["rgb"][0, 0].min() == 1.0, "rgb is composited over white"


def test_frame_endpoint_modes(served):
    orbit = Orbit(size=48, distance=3.0)
    code, body = _get(served.url + "api/frame?mode=alpha&size=48&d=3.0")
    assert code == 200
    expected = _renderer_alpha(served.source, orbit).numpy()
    assert np.abs(_png(body)[..., 0] / 255.0 - expected).max() <= 0.5 / 255 + 1e-6
    for mode in ("rgb", "depth", "normals"):
        code, body = _get(served.url + f"api/frame?mode={mode}&size=32")
        assert code == 200 and _png(body).shape == (32, 32, 3), mode
    code, body = _get(served.url + "api/frame?mode=heat&size=32")
    error = json.loads(body)["error"]
    assert code == 400 and "unknown render mode 'heat'" in error and "rgb, alpha, depth, normals" in error
    assert "\n" not in error
    state = json.loads(_get(served.url + "api/state")[1])
    assert state["modes"] == ["rgb", "alpha", "depth", "normals"] and state["compare"] is None and state["run"]


def test_metrics_endpoint_returns_the_logged_curves(served):
    from lift3d.runs import RunDir

    run = RunDir(served.source.run_dir)
    logged = [(1, 2.5, 0.1), (2, 2.0, 0.2), (3, 1.25, float("nan"))]
    for step, loss, sparsity in logged:
        run.log_metrics(step, loss=loss, sparsity=sparsity)
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "loss": 1.')  # the line a training run is writing
    code, body = _get(served.url + "api/metrics")
    assert code == 200
    metrics = json.loads(body)["metrics"]
    assert metrics == {"loss": [[1, 2.5], [2, 2.0], [3, 1.25]], "sparsity": [[1, 0.1], [2, 0.2]]}


def test_metrics_of_a_long_run_are_thinned_keeping_the_last_point(tmp_path):
    from lift3d.viewer.run_data import read_metrics

    (tmp_path / "metrics.jsonl").write_text("".join(f'{{"step": {i}, "loss": {i / 10}}}\n' for i in range(5001)))
    curve = read_metrics(tmp_path, max_points=1000)["loss"]
    assert len(curve) <= 1000 and curve[0] == (0, 0.0) and curve[-1] == (5000, 500.0)
    assert read_metrics(tmp_path / "missing") == {}


def test_validation_grids_of_any_run(served, tmp_path):
    from PIL import Image

    media = served.source.run_dir / "media"
    for name in ("val_000020.png", "val_000005.png", "turntable.png", "val_x.png"):
        Image.new("RGB", (8, 4), (200, 10, 10)).save(media / name)
    code, body = _get(served.url + "api/validations")
    assert code == 200
    assert json.loads(body)["images"] == [{"name": "val_000005.png", "step": 5}, {"name": "val_000020.png", "step": 20}]
    code, body = _get(served.url + "api/validation?name=val_000020.png")
    assert code == 200 and _png(body).shape == (4, 8, 3)
    assert _get(served.url + "api/validation?name=turntable.png")[0] == 404
    # a folder that is not a generate run (its exports as versions) shows its grids too
    from lift3d.scenes.gaussians_ply import save_ply

    folder = tmp_path / "recon"
    (folder / "media").mkdir(parents=True)
    save_ply(two_blobs(), folder / "export" / "splats.ply")
    Image.new("RGB", (8, 4)).save(folder / "media" / "val_000003.png")
    server = ViewerServer(open_source(folder), port=0).start()
    try:
        assert json.loads(_get(server.url + "api/validations")[1])["images"] == [{"name": "val_000003.png", "step": 3}]
        assert json.loads(_get(server.url + "api/metrics")[1])["metrics"] == {}
    finally:
        server.close()


def test_side_by_side_renders_the_compare_source(tmp_path):
    import trimesh

    from lift3d.export.asset import write_asset

    glb = write_asset(trimesh.creation.box(extents=(0.8, 0.5, 0.6)), tmp_path / "mesh")[0]
    source, compare = open_source(make_run(tmp_path / "run")), open_source(glb)
    server = ViewerServer(source, port=0, compare=compare).start()
    try:
        state = json.loads(_get(server.url + "api/state")[1])
        assert state["compare"] == {"title": "mesh.glb", "versions": ["mesh.glb"], "run": False}
        query = "az=40&el=25&d=3.0&size=48"
        frames = {src: _png(_get(server.url + f"api/frame?src={src}&{query}")[1]) for src in (0, 1)}
        expected = (compare.render(0, Orbit(azimuth=40, elevation=25, distance=3.0, size=48)).numpy() * 255 + 0.5)
        assert np.abs(frames[1].astype(np.float32) - expected.astype(np.uint8)).max() <= 1
        assert mean_abs_diff(frames[0], frames[1]) > 5.0, "src=1 rendered the first source"
        code, body = _get(server.url + f"api/frame?src=1&mode=depth&{query}")
        assert code == 200 and _png(body).shape == (48, 48, 3)
        code, body = _get(server.url + f"api/frame?src=1&v=1&{query}")
        assert code == 422 and "no version 1" in json.loads(body)["error"]
        code, body = _get(server.url + f"api/frame?src=2&{query}")
        assert code == 400 and "src must be 0" in json.loads(body)["error"]
    finally:
        server.close()
    code, body = _get_one(source, "api/frame?src=1&size=32")
    assert code == 422 and "--compare" in json.loads(body)["error"]


def _get_one(source, path: str) -> tuple[int, bytes]:
    server = ViewerServer(source, port=0).start()
    try:
        return _get(server.url + path)
    finally:
        server.close()


def test_compare_of_a_bad_path_is_one_line_before_the_server_starts(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    (tmp_path / "notes.txt").write_text("hello")
    for bad, message in ((tmp_path / "missing", "does not exist"), (tmp_path / "notes.txt", "cannot view notes.txt")):
        assert cli_main(["view", str(run), "--compare", str(bad), "--port", "0"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lift3d view: error: --compare: ") and message in err[0], err


def test_every_readable_format_opens(tmp_path):
    """Every splat format lift3d writes (it reads them all back), a SOG folder, and meshes as .glb/.gltf/.obj/.ply."""
    import trimesh

    from lift3d.export.formats import save_glb, save_obj
    from lift3d.export.formats import save_ply as save_mesh_ply
    from lift3d.export.splat_files import SPLAT_SUFFIX, save_splats
    from lift3d.export.splats import SplatData
    from lift3d.scenes.gaussians_ply import save_ply

    reference_path = save_ply(two_blobs(), tmp_path / "reference.ply")
    orbit = Orbit(distance=3.0, size=64)
    reference = (open_source(reference_path).render(0, orbit).numpy() * 255).astype(np.uint8)
    data = SplatData.from_gaussians(two_blobs())
    splats = [p for fmt in SPLAT_SUFFIX for p in save_splats(data, tmp_path / f"blobs{SPLAT_SUFFIX[fmt]}", fmt, "z_up")]
    (tmp_path / "sog").mkdir()
    save_splats(data, tmp_path / "sog" / "meta.json", "sog", "z_up")
    splats.append(tmp_path / "sog")  # a SOG folder opens as its meta.json
    assert {p.name for p in splats} >= {"blobs_splat.ply", "blobs.splat", "blobs.spz", "blobs.sog",
                                        "blobs.compressed.ply", "blobs_splat.glb", "sog"}
    for path in splats:
        source = open_source(path)
        image = (source.render(0, orbit).numpy() * 255).astype(np.uint8)
        assert_object_centred(image)
        assert mean_abs_diff(image, reference) < 3.0, f"{path.name} renders unlike the splats it holds"
    box = trimesh.creation.box(extents=(0.8, 0.5, 0.6))
    box.visual.vertex_colors = np.tile(np.array([[200, 40, 40, 255]], np.uint8), (len(box.vertices), 1))
    gltf = tmp_path / "box.gltf"
    gltf.write_bytes(trimesh.Scene(box).export(file_type="gltf", embed_buffers=True)["model.gltf"])
    meshes = [save_glb(box, tmp_path / "box.glb"), save_obj(box, tmp_path / "box.obj")[0],
              save_mesh_ply(box, tmp_path / "box.ply"), gltf]
    for path in meshes:
        image = (open_source(path).render(0, orbit).numpy() * 255).astype(np.uint8)
        assert_object_centred(image)


def test_export_endpoint_writes_the_chosen_formats(served, tmp_path):
    from lift3d.export.splat_files import load_splats

    state = json.loads(_get(served.url + "api/state")[1])
    assert {"glb", "spz", "sog", "splat-glb", "video"} <= set(state["formats"])
    code, _, body = _request(served, "/api/export?v=1&format=spz&format=splat", "POST")
    written = [Path(p) for p in json.loads(body)["written"]]
    assert code == 200 and [p.name for p in written] == ["splats.spz", "splats.splat"], body
    assert all(p.parent == served.source.run_dir / "export-view" / "stage_1___step_20" for p in written)
    assert len(load_splats(written[0], "y_down")) == len(two_blobs())
    assert not (written[0].parent / "splats.ply").exists(), "only the chosen formats are written"
    code, _, body = _request(served, "/api/export?v=0&format=fbx", "POST")
    assert code == 400 and "unknown export format 'fbx'" in json.loads(body)["error"]
    # a file converts as 'lift3d export FILE' does, into export-view/ beside it
    from lift3d.scenes.gaussians_ply import save_ply

    source = open_source(save_ply(two_blobs(), tmp_path / "blobs.ply"))
    assert "video" not in source.formats() and "glb" in source.formats()
    (out,) = source.export(0, ["splat-ply-compressed"])
    assert out == tmp_path / "export-view" / "blobs.compressed.ply" and len(load_splats(out)) == len(two_blobs())
    with pytest.raises(LiftError, match="choose the formats"):
        source.export(0)


def test_static_page_is_self_contained(tmp_path):
    from lift3d.scenes.gaussians_ply import save_ply
    from lift3d.viewer.static_page import write_static_page

    splats = save_ply(two_blobs(), tmp_path / "splats.ply")
    page = write_static_page(tmp_path / "index.html", "<b>title</b>", splats=splats).read_text()
    data = json.loads(page.split('<script id="lift3d-data" type="application/json">')[1].split("</script>")[0])
    assert data["splats"]["count"] == len(two_blobs()) and data["glb"] is None
    positions = np.frombuffer(__import__("base64").b64decode(data["splats"]["positions"]), "<f4").reshape(-1, 3)
    expected = two_blobs().means.detach().numpy()
    np.testing.assert_allclose(np.sort(positions[:, 2]), np.sort(-expected[:, 1]), atol=1e-6)  # +Z up -> +Y up
    assert "<h3>&lt;b&gt;title" in page and "<h3><b>" not in page  # escaped in the markup
    with pytest.raises(LiftError, match="nothing to put"):
        write_static_page(tmp_path / "empty.html", "x")


@pytest.mark.skipif(not (ROOT / "tools/viewer/node_modules/.bin/esbuild").exists() or shutil.which("node") is None,
                    reason="needs tools/viewer/node_modules (npm ci in tools/viewer; CI's tools/viewer/install.sh)")
def test_committed_bundle_matches_a_rebuild(tmp_path):
    out = tmp_path / "bundle.js"
    package = json.loads((ROOT / "tools/viewer/package.json").read_text())
    command = package["scripts"]["build"].replace("--outfile=../../lift3d/viewer/web/static_bundle.js", f"--outfile={out}")
    subprocess.run(command, shell=True, check=True, cwd=ROOT / "tools/viewer", env={"PATH": str(ROOT / "tools/viewer/node_modules/.bin") + ":/usr/bin:/bin"},
                   capture_output=True)
    assert out.read_bytes() == (ROOT / "lift3d/viewer/web/static_bundle.js").read_bytes(), \
        "lift3d/viewer/web/static_bundle.js is stale: run 'npm run build' in tools/viewer and commit it"
    torch.manual_seed(0)
