"""The one atomic file writer: every file Rotoshot writes goes through `atomic_path`.

A unique temp file is created in the target's own folder (O_CREAT|O_EXCL, so an existing file or
a planted link is never followed or reused), filled, flushed to disk, then renamed over the
target; the folder is flushed too, so after a crash the target is either the old file or the new
one. The temp name starts with a dot and ends in ".part" (plus a suffix a writer library may need
to pick a format), so it never looks like a frame of a sequence.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import RotoshotError


def _fsync(path: str | os.PathLike, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, suffix: str = "", durable: bool = True
) -> Iterator[Path]:
    """Yield a fresh temp path beside `path`; when the block ends without an exception it
    replaces `path`, otherwise it is removed. suffix: what the temp name must end with for a
    writer that picks its format from the name (".mp4"); durable: fsync file and folder
    (results caches, which can be recomputed, skip it). OSError -> RotoshotError naming `path`.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=f".part{suffix}"
        )
    except OSError as exc:
        raise RotoshotError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            with contextlib.suppress(OSError):  # not every file system can sync a folder
                _fsync(path.parent, directory=True)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RotoshotError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
