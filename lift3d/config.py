"""Frozen-dataclass configs: serialisation with short kind tags and a schema version.

Configs are plain frozen dataclasses with attribute docstrings (tyro turns those into ``--help``);
unions of config classes become tyro subcommands. Saved configs never contain class paths: each
dataclass is written with a short ``_kind`` tag (its ``KIND`` class attribute, or its snake-cased
class name without a ``Config`` suffix), and loading resolves tags against the *type annotation*
of the field being filled, so renaming a module does not break old runs. Presets are Python
instances, not YAML.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

SCHEMA_VERSION = 1
"""Bumped when a saved config can no longer be read as-is; :func:`load_config` refuses newer ones."""

T = TypeVar("T")

TAG = "_kind"
"""Key holding a dataclass's kind tag in saved configs (underscored: it never clashes with a field)."""


def kind_of(cls: type) -> str:
    """The short tag a config class is saved under."""
    explicit = cls.__dict__.get("KIND")
    if isinstance(explicit, str):
        return explicit
    name = re.sub(r"Config$", "", cls.__name__)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def to_dict(value: Any) -> Any:
    """Recursively convert a config (dataclasses, enums, tuples, paths) to JSON-compatible data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {TAG: kind_of(type(value))}
        for f in dataclasses.fields(value):
            if f.init:
                out[f.name] = to_dict(getattr(value, f.name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_dict(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        raise ValueError("configs cannot hold NaN")
    return value


def _union_members(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(_strip_annotated(m) for m in typing.get_args(tp))
    return None


def choice(*classes: type) -> Any:
    """A Union of config classes whose tyro subcommands are named by their kind tags.

    ``stage.guidance: choice(SDSConfig, VSDConfig)`` gives ``stage.guidance:sds`` and
    ``stage.guidance:vsd`` on the command line (instead of ``sds-config``); saved configs are unaffected.
    """
    import tyro

    members = tuple(Annotated[c, tyro.conf.subcommand(kind_of(c).replace("_", "-"))] if dataclasses.is_dataclass(c)
                    else c for c in classes)
    return typing.Union[members]  # noqa: UP007


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def from_dict(tp: Any, data: Any, where: str = "config") -> Any:
    """Rebuild a value of type ``tp`` from :func:`to_dict` output.

    Raises:
        ValueError: naming the offending key path when the data does not fit the type.
    """
    tp = _strip_annotated(tp)
    if tp is Any:
        return data
    members = _union_members(tp)
    if members is not None:
        if data is None and type(None) in members:
            return None
        classes = [m for m in members if dataclasses.is_dataclass(m)]
        if isinstance(data, dict) and classes:
            tag = data.get(TAG)
            for cls in classes:
                if kind_of(cls) == tag:
                    return from_dict(cls, data, where)
            raise ValueError(f"{where}: unknown kind {tag!r}; expected one of {[kind_of(c) for c in classes]}")
        for m in members:
            if m is type(None):
                continue
            try:
                return from_dict(m, data, where)
            except (ValueError, TypeError):
                continue
        raise ValueError(f"{where}: value {data!r} fits none of {members}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object for {tp.__name__}, got {type(data).__name__}")
        tag = data.get(TAG, kind_of(tp))
        if tag != kind_of(tp):
            raise ValueError(f"{where}: kind {tag!r} does not match {kind_of(tp)!r}")
        hints = typing.get_type_hints(tp, include_extras=True)
        known = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(data) - known - {TAG}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)} for {kind_of(tp)!r}")
        kwargs = {k: from_dict(hints[k], v, f"{where}.{k}") for k, v in data.items() if k in known}
        return tp(**kwargs)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        if data not in typing.get_args(tp):
            raise ValueError(f"{where}: {data!r} is not one of {typing.get_args(tp)}")
        return data
    if origin in (tuple, list):
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {type(data).__name__}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(data):
                raise ValueError(f"{where}: expected {len(args)} items, got {len(data)}")
            return tuple(from_dict(a, d, f"{where}[{i}]") for i, (a, d) in enumerate(zip(args, data)))
        item = args[0] if args else Any
        seq = [from_dict(item, d, f"{where}[{i}]") for i, d in enumerate(data)]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        kt, vt = typing.get_args(tp) or (Any, Any)
        return {k: from_dict(vt, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    if tp is Path:
        return Path(data)
    if tp is float and isinstance(data, (int, float)) and not isinstance(data, bool):
        return float(data)
    if isinstance(tp, type) and not isinstance(data, tp):
        raise ValueError(f"{where}: expected {tp.__name__}, got {data!r}")
    return data


def save_config(cfg: Any, path: Path) -> None:
    """Write ``cfg`` as JSON with the schema version (atomically)."""
    from lift3d.files import atomic_write_text

    payload = {"schema_version": SCHEMA_VERSION, "config": to_dict(cfg)}
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def load_config(tp: type[T], path: Path) -> T:
    """Read a config written by :func:`save_config` as type ``tp``."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read config {path}: {e}") from None
    version = payload.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {version!r} is newer than this lift3d ({SCHEMA_VERSION}); upgrade lift3d")
    data = payload["config"]
    migrate = getattr(tp, "migrate_dict", None)  # a config class may map saved layouts of earlier releases
    return from_dict(tp, migrate(data) if migrate is not None else data)
