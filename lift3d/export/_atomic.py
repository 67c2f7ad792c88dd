"""Atomic, non-clobbering file writes shared by every exporter.

Each writer renders into a temporary file in the destination folder and moves it into place with
``os.replace`` (atomic on POSIX and Windows for one filesystem), so a crash never leaves a truncated
asset behind and a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lift3d.types import LiftError


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Resolve ``path`` and refuse to clobber an existing file unless ``overwrite``.

    Raises:
        LiftError: the file exists and ``overwrite`` is False, or its folder does not exist.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise LiftError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    if not path.parent.is_dir():
        raise LiftError(f"output folder {path.parent} does not exist; create it first.")
    return path


@contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    The temporary file keeps ``path``'s suffix so suffix-sniffing writers (trimesh, imageio) pick the
    right format. On error the temporary file is removed and ``path`` is untouched.
    """
    path = check_writable(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; exports are files to share (viewers, web servers, DCC tools)
    try:
        yield tmp_path
        if path.exists() and not overwrite:  # created by someone else meanwhile
            raise LiftError(f"{path} appeared while writing; pass overwrite=True to replace it.")
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; returns the final path."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)
