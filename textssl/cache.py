"""textssl's cache folder (`TEXTSSL_CACHE`, default ~/.cache/textssl): built-in datasets,
computed text views and cached encoder features, each written whole or not at all."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("TEXTSSL_CACHE", Path.home() / ".cache" / "textssl"))


def write_cache_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Run `write(folder)` on a folder of this process's own, then put it in place of `target`,
    so a cache folder is whole or absent even when a run is killed while writing it."""
    partial = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
