"""Paths inside a project folder that cannot be turned against the user.

Project folders travel (shared drives, a client's zip file), so a link planted inside one must
not redirect a read, a write, a listing or a delete to somewhere else. Every path the project
code touches below its folder goes through `inside`: no part of it below the folder may be a
symbolic link, and it must stay within the folder. The folder itself is the user's choice and
may be a link.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from core.errors import RotoshotError


def inside(folder: str | os.PathLike, *parts: str) -> Path:
    """folder/parts..., refused (RotoshotError) when a part that exists is a symbolic link or
    the path would leave the folder ("..", an absolute part). Parts that do not exist yet are
    fine: they are what a write will create."""
    base = Path(folder)
    path = base
    for part in parts:
        if part in ("", ".", "..") or os.sep in part or (os.altsep and os.altsep in part):
            raise RotoshotError(f"{part!r} is not a name inside the project folder {base}")
        path = path / part
        if path.is_symlink():
            raise RotoshotError(
                f"{path} is a link; a project folder may not contain links (it could redirect "
                "reads and writes outside the folder)"
            )
    return path


def files_inside(folder: str | os.PathLike, *parts: str, pattern: str = "*") -> Iterator[Path]:
    """Regular files (not links) matching `pattern` in folder/parts..., sorted; nothing when the
    sub-folder does not exist. RotoshotError when the sub-folder is reached through a link."""
    directory = inside(folder, *parts)
    if not directory.is_dir():
        return iter(())
    return iter(sorted(p for p in directory.glob(pattern) if p.is_file() and not p.is_symlink()))
