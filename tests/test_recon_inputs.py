"""Input preparation for image-to-3D: modes, masks, framing, sizes and corrupt files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lift3d.recon.inputs import CANONICAL_FILL, MAX_SIDE, background_mask, prepare_image, prepare_input, read_image
from lift3d.types import LiftError


def _disc(size: int, radius: float, centre=(0.5, 0.5)) -> np.ndarray:
    j, i = np.mgrid[0:size, 0:size] + 0.5
    return ((i / size - centre[0]) ** 2 + (j / size - centre[1]) ** 2 <= (radius) ** 2)


def _bbox_fraction(alpha: torch.Tensor) -> tuple[float, float, float]:
    ys, xs = torch.nonzero(alpha > 0.5, as_tuple=True)
    n = alpha.shape[0]
    side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1).item() / n
    return side, (ys.min() + ys.max() + 1).item() / 2 / n, (xs.min() + xs.max() + 1).item() / 2 / n


def test_rgba_uses_alpha_and_recentres(tmp_path) -> None:
    a = np.zeros((100, 100, 4), np.uint8)
    a[_disc(100, 0.1, (0.25, 0.3))] = (200, 20, 20, 255)
    Image.fromarray(a, "RGBA").save(tmp_path / "x.png")
    out = prepare_image(tmp_path / "x.png", 64)
    assert out.shape == (64, 64, 4)
    side, cy, cx = _bbox_fraction(out[..., 3])
    assert side == pytest.approx(CANONICAL_FILL, abs=2 / 64)
    assert (cy, cx) == (pytest.approx(0.5, abs=1.5 / 64), pytest.approx(0.5, abs=1.5 / 64))
    inside = out[32, 32]
    torch.testing.assert_close(inside, torch.tensor([200 / 255, 20 / 255, 20 / 255, 1.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[0, 0], torch.ones(4) * torch.tensor([1, 1, 1, 0.0]))  # white, transparent


def test_rgb_on_white_is_segmented(tmp_path) -> None:
    a = np.full((80, 120, 3), 255, np.uint8)
    a[20:60, 50:90][_disc(40, 0.45)] = (10, 90, 200)
    Image.fromarray(a, "RGB").save(tmp_path / "x.jpg", quality=95)
    out = prepare_image(tmp_path / "x.jpg", 32)
    side, _, _ = _bbox_fraction(out[..., 3])
    assert side == pytest.approx(CANONICAL_FILL, abs=2 / 32)
    assert out[16, 16, 2] > 0.6 and out[16, 16, 0] < 0.2


def test_background_mask_none_when_cluttered() -> None:
    rgb = np.random.default_rng(0).random((20, 20, 3))
    assert background_mask(rgb) is None


def test_cluttered_rgb_asks_for_mask(tmp_path) -> None:
    Image.fromarray((np.random.default_rng(0).random((30, 30, 3)) * 255).astype(np.uint8)).save(tmp_path / "n.png")
    with pytest.raises(LiftError, match="--mask"):
        prepare_image(tmp_path / "n.png", 32)


def test_mask_file(tmp_path) -> None:
    Image.fromarray((np.random.default_rng(0).random((30, 30, 3)) * 255).astype(np.uint8)).save(tmp_path / "n.png")
    Image.fromarray((_disc(30, 0.3) * 255).astype(np.uint8), "L").save(tmp_path / "m.png")
    out = prepare_image(tmp_path / "n.png", 32, mask=tmp_path / "m.png")
    assert _bbox_fraction(out[..., 3])[0] == pytest.approx(CANONICAL_FILL, abs=2 / 32)
    Image.fromarray(np.zeros((10, 10), np.uint8), "L").save(tmp_path / "small.png")
    with pytest.raises(LiftError, match="10x10"):
        prepare_image(tmp_path / "n.png", 32, mask=tmp_path / "small.png")


def test_grayscale_and_16bit(tmp_path) -> None:
    disc = _disc(40, 0.25)
    Image.fromarray(np.where(disc, 50, 255).astype(np.uint8), "L").save(tmp_path / "g.png")
    Image.fromarray(np.where(disc, 13107, 65535).astype(np.uint16)).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    for name, level in (("g.png", 50 / 255), ("g16.png", 13107 / 65535)):
        out = prepare_image(tmp_path / name, 32)
        torch.testing.assert_close(out[16, 16, :3], torch.full((3,), level), atol=2e-3, rtol=0)
        assert out[16, 16, 3] == pytest.approx(1.0)


def test_palette_with_transparency(tmp_path) -> None:
    a = np.zeros((40, 40, 4), np.uint8)
    a[_disc(40, 0.2)] = (0, 255, 0, 255)
    Image.fromarray(a, "RGBA").convert("P").save(tmp_path / "p.png", transparency=0)
    rgba, _ = read_image(tmp_path / "p.png")
    assert rgba.shape == (40, 40, 4)


def test_exif_rotation(tmp_path) -> None:
    a = np.full((20, 40, 3), 255, np.uint8)
    a[5:15, 2:8] = 0  # object on the left of a landscape image
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif, quality=100)
    rgba, _ = read_image(tmp_path / "r.jpg")
    assert rgba.shape[:2] == (40, 20)  # portrait after the EXIF transpose
    dark = rgba[..., 0] < 0.5
    assert dark[:10].any() and not dark[20:].any()  # the left edge became the top


def test_tiny_and_huge(tmp_path) -> None:
    tiny = np.zeros((3, 3, 4), np.uint8)
    tiny[1, 1] = (255, 0, 0, 255)
    Image.fromarray(tiny, "RGBA").save(tmp_path / "t.png")
    out = prepare_image(tmp_path / "t.png", 32)
    assert out.shape == (32, 32, 4) and out[16, 16, 3] > 0.5
    big = np.full((MAX_SIDE * 2 + 10, 600, 3), 255, np.uint8)
    big[1000:3000, 200:400] = (0, 0, 0)
    Image.fromarray(big).save(tmp_path / "h.png")
    rgba, _ = read_image(tmp_path / "h.png")
    assert max(rgba.shape[:2]) == MAX_SIDE
    out = prepare_image(tmp_path / "h.png", 32)
    assert _bbox_fraction(out[..., 3])[0] == pytest.approx(CANONICAL_FILL, abs=2 / 32)


def test_empty_mask_is_clear(tmp_path) -> None:
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(tmp_path / "e.png")
    with pytest.raises(LiftError, match="no object"):
        prepare_image(tmp_path / "e.png", 32)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_corrupt_files_give_one_line(tmp_path, content) -> None:
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(LiftError) as e:
        prepare_image(tmp_path / "bad.png", 32)
    assert "cannot read" in str(e.value) and "\n" not in str(e.value)


def test_truncated_png(tmp_path) -> None:
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(LiftError, match="cannot read"):
        read_image(tmp_path / "cut.png")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(LiftError, match="does not exist"):
        prepare_image(tmp_path / "nope.png", 32)


def test_framing_records_the_crop_of_an_off_centre_object(tmp_path) -> None:
    """A 40 x 20 square at x 70..110, y 10..30 of a 120 x 80 image: its box, and the mapping that centres it."""
    a = np.zeros((80, 120, 4), np.uint8)
    a[10:30, 70:110] = (255, 0, 0, 255)
    Image.fromarray(a, "RGBA").save(tmp_path / "x.png")
    out, framing = prepare_input(tmp_path / "x.png", 64)
    assert framing.size == (120, 80) and framing.bbox == (70, 10, 110, 30)
    assert framing.mask_source == "alpha" and framing.background is None and framing.recentred
    s = 64 * CANONICAL_FILL / 40
    assert framing.scale == (pytest.approx(s), pytest.approx(s))
    (sx, sy), (ox, oy) = framing.scale, framing.offset
    half = 32 * CANONICAL_FILL
    assert (sx * 70 + ox, sx * 110 + ox) == (pytest.approx(32 - half), pytest.approx(32 + half))
    assert (sy * 10 + oy, sy * 30 + oy) == (pytest.approx(32 - half / 2), pytest.approx(32 + half / 2))
    ys, xs = torch.nonzero(out[..., 3] > 0.5, as_tuple=True)  # the framed mask sits where the mapping says
    assert abs(xs.min().item() - (32 - half)) <= 1 and abs(xs.max().item() + 1 - (32 + half)) <= 1
    assert abs(ys.min().item() - (32 - half / 2)) <= 1 and abs(ys.max().item() + 1 - (32 + half / 2)) <= 1


def test_framing_mask_sources_and_no_recenter(tmp_path) -> None:
    a = np.full((50, 60, 3), 128, np.uint8)
    a[5:15, 40:55] = (0, 0, 255)
    Image.fromarray(a, "RGB").save(tmp_path / "g.png")
    _, framing = prepare_input(tmp_path / "g.png", 32)
    assert framing.mask_source == "background" and framing.bbox == (40, 5, 55, 15)
    assert framing.background == pytest.approx((128 / 255,) * 3)
    m = np.zeros((50, 60), np.uint8)
    m[20:30, 10:20] = 255
    Image.fromarray(m, "L").save(tmp_path / "m.png")
    _, framing = prepare_input(tmp_path / "g.png", 32, mask=tmp_path / "m.png", recenter=False)
    assert framing.mask_source == "mask" and framing.bbox == (10, 20, 20, 30) and not framing.recentred
    assert framing.scale == (32 / 60, 32 / 50) and framing.offset == (0.0, 0.0)


def test_framing_of_a_downscaled_image_is_in_original_pixels(tmp_path) -> None:
    big = np.full((200, MAX_SIDE * 2, 3), 255, np.uint8)
    big[50:150, 1000:3000] = 0
    Image.fromarray(big).save(tmp_path / "h.png")
    _, framing = prepare_input(tmp_path / "h.png", 32)
    assert framing.size == (MAX_SIDE * 2, 200)
    assert framing.bbox == pytest.approx((1000, 50, 3000, 150), abs=2.5)
    assert framing.scale[0] * 2000 == pytest.approx(32 * CANONICAL_FILL, rel=2e-3)
