"""Files and folders written whole or not at all: a kill leaves the old version or the new one.

One protocol for all of textssl. A process writes to a temporary beside the target, named for
it (`NAME.tmpPID`, `own_temporary`), and renames it into place when whole. A folder is swapped
in through `NAME.old`, so that between its two renames `completed(target)` still finds a whole
version. `remove_abandoned` deletes the temporaries of processes that died (a kill's
leftovers) and leaves those of live ones (a concurrent build) alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def own_temporary(target: Path) -> Path:
    """A path beside `target` that only this process writes."""
    return target.with_name(f"{target.name}.tmp{os.getpid()}")


@contextmanager
def written_whole(target: Path, replace: bool = True) -> Iterator[Path]:
    """Yield this process's temporary for `target` (a file or a folder, as the block writes it);
    it replaces `target` when the block ends, and is removed when the block raises.

    `replace=False` is for a cache that any writer fills the same: when another process has
    put a whole `target` in place meanwhile, it stays (that process may be reading it) and
    this process's copy goes.
    """
    remove_abandoned(target.parent, target.name)
    temporary = own_temporary(target)
    _remove(temporary)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    if replace or not target.exists():
        swap_in(temporary, target)
    else:
        _remove(temporary)


def write_whole(path: Path, text: str) -> None:
    """Write a text file that a kill leaves whole or as it was, never empty or cut off."""
    with written_whole(path) as temporary:
        temporary.write_text(text)


def swap_in(temporary: Path, target: Path) -> None:
    """Put the whole `temporary` in place of `target`: a file by one rename, a folder through
    `target.old`."""
    if temporary.is_file():
        os.replace(temporary, target)
        return
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)  # half deleted by a run killed in the rmtree below
        target.rename(old)
    os.replace(temporary, target)
    shutil.rmtree(old, ignore_errors=True)


def completed(target: Path) -> Path:
    """`target`, or its previous version when a run was killed between the two renames of `swap_in`."""
    old = target.with_name(target.name + ".old")
    return old if not target.exists() and old.exists() else target


def remove_abandoned(folder: Path, targets: str) -> None:
    """Delete the temporaries, in `folder`, of the targets the glob pattern `targets` matches that
    processes which died left; those of live processes belong to a concurrent build and stay."""
    for path in folder.glob(f"{targets}.tmp*"):
        pid = path.name.rpartition(".tmp")[2]
        if pid.isdigit() and not _running(int(pid)):
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        return True
    return True
