"""Headless Chromium for the viewer tests: Debian's ``chromium`` + ``chromium-driver`` through selenium.

CI installs both (``tools/viewer/install.sh``); without them the browser tests skip with that reason.
WebGL runs on SwiftShader (software), so the static three.js page renders without a GPU.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@contextmanager
def chromium(width: int = 1100, height: int = 800) -> Iterator:
    """A headless Chromium driven by selenium (skips the test when chromium or its driver is missing)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver, "
                    "as tools/viewer/install.sh does in CI)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader", f"--window-size={width},{height}", "--hide-scrollbars",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script: str, timeout: float = 30.0):
    """Poll ``return <script>`` until it is truthy; fail with the page's error text otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script};")
        if value:
            return value
        time.sleep(0.05)
    error = driver.execute_script("const e = document.getElementById('error'); return e ? e.textContent : '';")
    raise AssertionError(f"timed out waiting for {script!r}; page error: {error!r}")


def element_image(element) -> np.ndarray:
    """``[H, W, 3]`` uint8 screenshot of one element."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB"))


def object_stats(image: np.ndarray, background: tuple[int, int, int] = (255, 255, 255), tol: int = 30):
    """``(coverage, centroid_x, centroid_y)``: the fraction of pixels that differ from ``background`` and
    their centroid in [0, 1] image coordinates."""
    diff = np.abs(image.astype(np.int16) - np.array(background, dtype=np.int16)).max(-1)
    mask = diff > tol
    coverage = float(mask.mean())
    if not mask.any():
        return coverage, float("nan"), float("nan")
    ys, xs = np.nonzero(mask)
    return coverage, float(xs.mean() / image.shape[1]), float(ys.mean() / image.shape[0])


def assert_object_centred(image: np.ndarray, low: float = 0.02, high: float = 0.9) -> None:
    """A non-blank picture whose non-background pixels sit around the centre."""
    coverage, cx, cy = object_stats(image)
    assert low < coverage < high, f"object covers {coverage:.1%} of the canvas"
    assert abs(cx - 0.5) < 0.2 and abs(cy - 0.5) < 0.2, f"object centroid at ({cx:.2f}, {cy:.2f})"


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())
