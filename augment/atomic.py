"""Write a file or folder whole or not at all, so a run killed while writing leaves the old one
(or none), never a cut-off one that the next run would trip over."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def written_whole(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` to write (a file, or a folder to fill); it
    replaces ``target`` when the block ends without error and is removed when it raises.

    The temporary is named for this process (``NAME.tmpPID``), so two processes writing the
    same target do not write into each other's; one left by a killed process of the same id
    is cleared first.
    """
    temporary = target.with_name(f"{target.name}.tmp{os.getpid()}")
    _remove(temporary)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
