"""Held-out evaluation of image-to-3D (lift3d.recon.evaluate): objects, PSNR, retrieval ceiling, summaries."""

import math

import pytest
import torch

from lift3d.recon.data import HELDOUT_FIRST_SEED
from lift3d.recon.evaluate import ground_truth_retrieval, heldout_objects, psnr, summarize


def test_heldout_objects_are_unseen_and_cycle_colours() -> None:
    objs = heldout_objects(2, families=("cube", "cone"))
    assert [(f, s) for f, _, s in objs] == [("cube", HELDOUT_FIRST_SEED), ("cube", HELDOUT_FIRST_SEED + 1),
                                            ("cone", HELDOUT_FIRST_SEED), ("cone", HELDOUT_FIRST_SEED + 1)]
    assert len({c for _, c, _ in objs}) == 4 and objs == heldout_objects(2, families=("cube", "cone"))


def test_psnr_closed_form() -> None:
    a = torch.zeros(2, 4, 4, 3)
    b = a.clone()
    b[0] += 0.1  # view 0: MSE 0.01 -> 20 dB; view 1: identical, clamped at 1e-10 -> 100 dB
    assert psnr(a, b) == pytest.approx((20.0 + 100.0) / 2, abs=1e-3)


def test_ground_truth_retrieval_is_the_ceiling_of_both_measures() -> None:
    # The held-out short cylinder: its own renders lose to the canonical sphere, but win as the instance.
    ceiling = ground_truth_retrieval([("cylinder", "red", HELDOUT_FIRST_SEED)])
    assert ceiling == {"objects": 1, "retrieval": 1.0, "retrieval_canonical": 0.0}


def test_summarize_averages_rows() -> None:
    rows = [{"retrieval_correct": True, "retrieval_canonical_correct": False, "psnr": 20.0, "iou": 0.8,
             "chamfer": 0.1, "seconds": 1.0},
            {"retrieval_correct": False, "retrieval_canonical_correct": False, "psnr": 30.0, "iou": 0.9,
             "chamfer": 0.3, "seconds": 3.0}]
    s = summarize(rows)
    assert s["objects"] == 2 and s["retrieval"] == 0.5 and s["retrieval_canonical"] == 0.0
    assert math.isclose(s["psnr"], 25.0) and math.isclose(s["iou"], 0.85) and math.isclose(s["chamfer"], 0.2)
