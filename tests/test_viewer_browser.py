"""The viewer in a real browser (headless Chromium): the live server page and the static index.html."""

from __future__ import annotations

import socket

import numpy as np
from browser import assert_object_centred, chromium, element_image, mean_abs_diff, wait_for
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from viewer_fixtures import make_run, two_blobs

from lift3d.viewer.server import ViewerServer
from lift3d.viewer.sources import open_source


def _settled(driver, frames: int) -> None:
    wait_for(driver, f"Number(document.getElementById('view').dataset.frames) > {frames} "
                     "&& document.body.dataset.idle === '1'")


def _frames(driver) -> int:
    return int(driver.execute_script("return Number(document.getElementById('view').dataset.frames);"))


def test_live_viewer_orbits_compares_versions_exports_and_stops_by_itself(tmp_path):
    run = make_run(tmp_path / "run")
    server = ViewerServer(open_source(run), port=0, idle_timeout=2.0).start()
    with chromium() as driver:
        driver.get(server.url)
        _settled(driver, 0)
        canvas = driver.find_element(By.ID, "view")
        first = element_image(canvas)
        assert_object_centred(first)
        assert "a red cube" in driver.find_element(By.ID, "title").text

        n = _frames(driver)
        ActionChains(driver).drag_and_drop_by_offset(canvas, 140, 30).perform()
        _settled(driver, n)
        dragged = element_image(canvas)
        assert_object_centred(dragged)
        assert mean_abs_diff(first, dragged) > 3.0, "dragging did not change the rendered view"

        n = _frames(driver)
        driver.find_element(By.ID, "version").send_keys(Keys.ARROW_RIGHT)  # the second checkpoint
        _settled(driver, n)
        assert "step 20" in driver.find_element(By.ID, "vlabel").text
        assert mean_abs_diff(dragged, element_image(canvas)) > 1.0, "another checkpoint rendered the same"

        driver.find_element(By.ID, "export").click()
        written = wait_for(driver, "document.getElementById('written').textContent.includes('splats.ply') "
                                   "&& document.getElementById('written').textContent", timeout=60)
        assert (run / "export-view" / "stage_1___step_20" / "splats.ply").is_file(), written
    assert server.wait(timeout=15), "the server did not stop by itself after the page closed"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", server.port)) != 0, "the port is still open"


def test_live_viewer_with_a_token(tmp_path):
    """Bound beyond loopback: the printed URL (with ?token=) works; afterwards its cookie alone does."""
    run = make_run(tmp_path / "run")
    server = ViewerServer(open_source(run), host="0.0.0.0", port=0).start()
    try:
        assert server.token is not None
        with chromium() as driver:
            driver.get(server.url)  # no token, no cookie yet: refused in one line that says what to do
            assert "needs its token" in driver.find_element(By.TAG_NAME, "body").text
            driver.get(server.page_url)
            _settled(driver, 0)
            assert_object_centred(element_image(driver.find_element(By.ID, "view")))
            assert "a red cube" in driver.find_element(By.ID, "title").text

            driver.get(server.url)  # the cookie the first visit set carries the token: frames and exports
            _settled(driver, 0)
            assert_object_centred(element_image(driver.find_element(By.ID, "view")))
            driver.find_element(By.ID, "export").click()
            wait_for(driver, "document.getElementById('written').textContent.includes('splats.ply')", timeout=60)
            assert any((run / "export-view").rglob("splats.ply"))
            assert driver.find_element(By.ID, "error").text == ""
    finally:
        server.close()


def test_static_page_from_a_file_url(tmp_path):
    import imageio.v3 as iio
    import trimesh

    from lift3d.export.asset import write_asset
    from lift3d.scenes.gaussians_ply import save_ply
    from lift3d.viewer.static_page import write_run_page

    run = tmp_path / "run"
    box = trimesh.creation.box(extents=(0.8, 0.5, 0.6))
    box.visual.vertex_colors = np.tile(np.array([[200, 40, 40, 255]], np.uint8), (len(box.vertices), 1))
    write_asset(box, run / "export")
    save_ply(two_blobs(), run / "export" / "splats.ply")
    (run / "media").mkdir()
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    frames[:, 8:24, 8:24, 0] = 220
    iio.imwrite(run / "media" / "turntable.mp4", frames, fps=6, codec="libx264", macro_block_size=1)
    page = write_run_page(run, "a red cube")
    html = page.read_text()
    assert "<script src" not in html and "<link" not in html, "the page must not load anything from elsewhere"

    with chromium() as driver:
        driver.get(page.resolve().as_uri())
        wait_for(driver, "document.body.dataset.ready === '1'")
        canvas = driver.find_element(By.ID, "view")
        mesh = element_image(canvas)
        assert_object_centred(mesh)
        assert mesh[..., 0].mean() > mesh[..., 2].mean() + 5, "the red box is not red"

        n = _frames(driver)
        ActionChains(driver).drag_and_drop_by_offset(canvas, 150, 40).perform()
        wait_for(driver, f"Number(document.getElementById('view').dataset.frames) > {n}")
        assert mean_abs_diff(mesh, element_image(canvas)) > 2.0, "dragging did not change the view"

        driver.find_element(By.CSS_SELECTOR, "[data-show=splats]").click()
        splats = element_image(canvas)
        assert_object_centred(splats)
        blue = (splats[..., 2] > 150) & (splats[..., 0] < 100)
        assert blue.mean() > 0.001, "the blue blob of the splats is missing"
        src = driver.execute_script("return document.getElementById('turntable').src;")
        assert src.startswith("data:video/mp4;base64,")


def test_modes_side_by_side_curves_grids_and_export_formats(tmp_path):
    """The page's render-mode menu, the two panes (another version, then --compare's source), the loss curves,
    the validation grids with their steps, and an export in a chosen format."""
    import trimesh
    from PIL import Image
    from selenium.webdriver.support.select import Select

    from lift3d.export.asset import write_asset
    from lift3d.runs import RunDir

    run = make_run(tmp_path / "run")
    for step in (10, 20):
        RunDir(run).log_metrics(step, loss=3.0 / step, sparsity=0.01 * step)
        Image.new("RGB", (16, 8), (200, 10 * step, 10)).save(run / "media" / f"val_{step:06d}.png")
    glb = write_asset(trimesh.creation.box(extents=(0.8, 0.5, 0.6)), tmp_path / "mesh")[0]
    server = ViewerServer(open_source(run), port=0, compare=open_source(glb)).start()
    try:
        with chromium(width=1500) as driver:
            driver.get(server.url)
            _settled(driver, 0)
            canvas = driver.find_element(By.ID, "view")
            rgb = element_image(canvas)

            n = _frames(driver)
            Select(driver.find_element(By.ID, "mode")).select_by_value("normals")
            _settled(driver, n)
            normals = element_image(canvas)
            assert normals[8, 8].max() < 10, "normals mode draws empty pixels black"
            assert mean_abs_diff(rgb, normals) > 20.0

            Select(driver.find_element(By.ID, "mode")).select_by_value("rgb")
            Select(driver.find_element(By.ID, "compare")).select_by_value("self")
            wait_for(driver, "Number(document.getElementById('view2').dataset.frames) > 0 "
                             "&& document.body.dataset.idle === '1'")
            right = driver.find_element(By.ID, "view2")
            assert mean_abs_diff(element_image(canvas), element_image(right)) < 1.0, "same version, same camera"

            n2 = int(driver.execute_script("return Number(document.getElementById('view2').dataset.frames);"))
            Select(driver.find_element(By.ID, "compare")).select_by_value("other")  # the --compare mesh
            wait_for(driver, f"Number(document.getElementById('view2').dataset.frames) > {n2} "
                             "&& document.body.dataset.idle === '1'")
            mesh = element_image(right)
            assert_object_centred(mesh)
            assert mean_abs_diff(element_image(canvas), mesh) > 3.0
            assert "mesh.glb" in driver.find_element(By.ID, "caption2").text

            n, n2 = _frames(driver), int(right.get_attribute("data-frames"))
            ActionChains(driver).drag_and_drop_by_offset(right, 120, 0).perform()  # one camera for both panes
            wait_for(driver, f"Number(document.getElementById('view').dataset.frames) > {n} && "
                             f"Number(document.getElementById('view2').dataset.frames) > {n2} && "
                             "document.body.dataset.idle === '1'")
            assert mean_abs_diff(mesh, element_image(right)) > 2.0

            metrics = wait_for(driver, "[...document.querySelectorAll('#curves svg')].map(s => s.dataset.metric "
                                       "+ ':' + s.querySelectorAll('polyline').length).join(',')")
            assert metrics == "loss:1,sparsity:1", metrics
            wait_for(driver, "document.getElementById('vallabel').textContent.includes('step 20')")
            assert driver.execute_script("return document.getElementById('val').naturalWidth;") == 16
            driver.find_element(By.ID, "valstep").send_keys(Keys.ARROW_LEFT)
            wait_for(driver, "document.getElementById('vallabel').textContent.startsWith('step 10')")

            driver.find_element(By.CSS_SELECTOR, "#formats input[value=spz]").click()
            driver.find_element(By.ID, "export").click()
            wait_for(driver, "document.getElementById('written').textContent.includes('splats.spz')", timeout=60)
            written = sorted(p.name for p in (run / "export-view" / "stage_1___step_10").iterdir())
            assert written == ["splats.spz"], written
            assert driver.find_element(By.ID, "error").text == ""
    finally:
        server.close()
