"""textssl's cache folder (`TEXTSSL_CACHE`, default ~/.cache/textssl): built-in datasets,
computed text views and cached encoder features, each written whole or not at all."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("TEXTSSL_CACHE", Path.home() / ".cache" / "textssl"))


def own_temporary(target: Path) -> Path:
    """A path beside `target` that only this process writes, renamed to `target` when whole."""
    return target.with_name(f"{target.name}.tmp{os.getpid()}")


def remove_abandoned(folder: Path, targets: str) -> None:
    """Delete the `own_temporary` files and folders, in `folder`, of the targets the glob pattern
    `targets` matches that processes which died left (a kill's leftovers); those of live
    processes belong to a concurrent build and are kept."""
    for path in folder.glob(f"{targets}.tmp*"):
        pid = path.name.rpartition(".tmp")[2]
        if pid.isdigit() and not _running(int(pid)):
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


def write_cache_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Run `write(folder)` on a folder of this process's own, then put it in place of `target`,
    so a cache folder is whole or absent even when a run is killed while writing it."""
    remove_abandoned(target.parent, target.name)
    partial = own_temporary(target)
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
