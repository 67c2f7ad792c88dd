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
from viewer_fixtures import make_run, two_blobs

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
