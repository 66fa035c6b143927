"""Checkpoints that are either complete or absent: written to a temporary folder, then renamed."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from accelerate import Accelerator

STATE_FILE = "trainer_state.json"


def write_whole(path: Path, text: str) -> None:
    """Write a file that a kill leaves whole or as it was, never empty or cut off."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _swap_in(partial: Path, target: Path) -> None:
    """Replace `target` by the complete folder `partial`; `target.old` bridges the two renames."""
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)  # half deleted by a run killed in the rmtree below
        target.rename(old)
    os.replace(partial, target)
    shutil.rmtree(old, ignore_errors=True)


def completed(target: Path) -> Path:
    """`target`, or its previous version when a run was killed between the two renames."""
    old = target.with_name(target.name + ".old")
    return old if not target.exists() and old.exists() else target


def replace_directory(target: Path, write: Callable[[Path], None]) -> None:
    """Run `write(folder)` on a fresh temporary folder, then swap it in for `target`."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write(partial)
    _swap_in(partial, target)


def save_checkpoint(accelerator: Accelerator, folder: Path, step: int, state: dict) -> None:
    """Model, optimizer, registered objects and every process's RNG states, plus `state`.

    Every process calls this; the finished checkpoint replaces the previous one.
    """
    partial = folder / "last.partial"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / STATE_FILE).write_text(json.dumps({"step": step, **state}))
        _swap_in(partial, folder / "last")
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, folder: Path) -> dict | None:
    """Restore the last complete checkpoint; its trainer state, or None when there is none."""
    target = completed(folder / "last")
    if not (target / STATE_FILE).is_file():
        return None
    accelerator.load_state(str(target))
    return json.loads((target / STATE_FILE).read_text())
