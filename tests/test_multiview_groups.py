"""Multi-view priors (MVDream, arXiv 2308.16512) see the 4 views of one object together: cameras of a group
share elevation, distance and field of view with azimuths 90 degrees apart, and one timestep per group."""

from __future__ import annotations

import pytest
import torch

from lift3d.cameras import position_to_spherical
from lift3d.guidance.functional import TimestepSchedule, sample_timesteps
from lift3d.sampling import OrbitSampler, Range


def test_groups_share_elevation_distance_fov_and_space_azimuths_evenly() -> None:
    sampler = OrbitSampler(elevation=Range((0.0, 30.0)), distance=Range((2.0, 3.0)), fov_y=Range((15.0, 60.0)))
    cams = sampler.sample(8, 16, generator=torch.Generator().manual_seed(0), group=4)
    elevation, azimuth, distance = position_to_spherical(cams.c2w[:, :3, 3])
    for g in range(2):
        sl = slice(4 * g, 4 * g + 4)
        torch.testing.assert_close(elevation[sl], elevation[sl][:1].expand(4), atol=1e-4, rtol=0)
        torch.testing.assert_close(distance[sl], distance[sl][:1].expand(4), atol=1e-5, rtol=0)
        steps = torch.remainder(azimuth[sl].diff(), 360.0)
        torch.testing.assert_close(steps, torch.full((3,), 90.0), atol=1e-3, rtol=0)
        assert torch.allclose(cams.K[sl, 1, 1], cams.K[4 * g, 1, 1])
    assert not torch.isclose(elevation[0], elevation[4])  # groups differ
    with pytest.raises(ValueError, match="whole number"):
        sampler.sample(6, 16, group=4)


def test_group_one_is_the_plain_sampler() -> None:
    a = OrbitSampler().sample(4, 16, generator=torch.Generator().manual_seed(3))
    b = OrbitSampler().sample(4, 16, generator=torch.Generator().manual_seed(3), group=1)
    assert torch.equal(a.c2w, b.c2w)


def test_timesteps_are_shared_within_groups_only() -> None:
    schedule = TimestepSchedule(0.02, 0.98)
    t = sample_timesteps(schedule, 0, 10, 8, 1000, torch.Generator().manual_seed(0), group=4)
    assert (t[:4] == t[0]).all() and (t[4:] == t[4]).all() and t[0] != t[4]
    plain = sample_timesteps(schedule, 0, 10, 8, 1000, torch.Generator().manual_seed(0))
    assert len(set(plain.tolist())) > 2  # group 1: one t per sample, as before
    with pytest.raises(ValueError, match="4-view groups"):
        sample_timesteps(schedule, 0, 10, 6, 1000, group=4)
