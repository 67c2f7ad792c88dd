import dataclasses
import enum
import json
from pathlib import Path

import pytest

from lift3d.config import SCHEMA_VERSION, from_dict, kind_of, load_config, save_config, to_dict
from lift3d.sampling import OrbitSampler, Range


class Mode(enum.Enum):
    A = "a"
    B = "b"


@dataclasses.dataclass(frozen=True)
class SdsConfig:
    scale: float = 100.0
    t_range: tuple[float, float] = (0.02, 0.98)


@dataclasses.dataclass(frozen=True)
class VsdConfig:
    KIND = "vsd"
    scale: float = 7.5
    lora_rank: int = 4


@dataclasses.dataclass(frozen=True)
class TopConfig:
    guidance: SdsConfig | VsdConfig = SdsConfig()
    mode: Mode = Mode.A
    out: Path = Path("outputs")
    note: str | None = None
    sampler: OrbitSampler = OrbitSampler()
    steps: list[int] = dataclasses.field(default_factory=lambda: [1, 2])


def test_kind_tags_are_short_and_not_class_paths() -> None:
    assert kind_of(SdsConfig) == "sds" and kind_of(VsdConfig) == "vsd" and kind_of(TopConfig) == "top"
    d = to_dict(TopConfig(guidance=VsdConfig(lora_rank=8)))
    assert d["guidance"] == {"_kind": "vsd", "scale": 7.5, "lora_rank": 8}
    assert "test_config" not in json.dumps(d)


@pytest.mark.parametrize("cfg", [TopConfig(), TopConfig(guidance=VsdConfig(lora_rank=2), mode=Mode.B, note="x",
                                                         sampler=OrbitSampler(elevation=Range((0, 1), (2, 3), 10)))])
def test_round_trip(cfg: TopConfig, tmp_path: Path) -> None:
    assert from_dict(TopConfig, to_dict(cfg)) == cfg
    save_config(cfg, tmp_path / "config.json")
    assert load_config(TopConfig, tmp_path / "config.json") == cfg
    assert json.loads((tmp_path / "config.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_errors_name_the_key(tmp_path: Path) -> None:
    d = to_dict(TopConfig())
    d["guidance"]["_kind"] = "nope"
    with pytest.raises(ValueError, match=r"config.guidance: unknown kind 'nope'"):
        from_dict(TopConfig, d)
    d = to_dict(TopConfig())
    d["guidance"]["bogus"] = 1
    with pytest.raises(ValueError, match="unknown keys"):
        from_dict(TopConfig, d)
    d = to_dict(TopConfig())
    d["sampler"]["distance"]["start"] = [1.0]
    with pytest.raises(ValueError, match=r"config.sampler.distance.start"):
        from_dict(TopConfig, d)
    (tmp_path / "c.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "config": {}}))
    with pytest.raises(ValueError, match="newer"):
        load_config(TopConfig, tmp_path / "c.json")
