"""Checkpoints that are either complete or absent: written to a temporary folder, then swapped
in (`textssl.atomic`).

Loading one runs no code from it: tensors come from safetensors or weights-only torch files,
and a file that does not load is one error naming it.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, load
from safetensors.torch import load_file

from textssl.atomic import completed, own_temporary, remove_abandoned, swap_in
from textssl.errors import TextsslError

STATE_FILE = "trainer_state.json"
FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"


def save_checkpoint(accelerator: Accelerator, folder: Path, step: int, state: dict) -> None:
    """Model, optimizer, registered objects and every process's RNG states, plus `state`.

    Every process calls this; the finished checkpoint replaces the previous one.
    """
    target = folder / "last"
    shared = [own_temporary(target)]
    broadcast_object_list(shared)  # the main process's temporary, which every process writes into
    temporary = shared[0]
    if accelerator.is_main_process:
        remove_abandoned(folder, target.name)
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (temporary / STATE_FILE).write_text(json.dumps({"step": step, **state}))
        swap_in(temporary, target)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, folder: Path, start_over: str) -> dict | None:
    """Restore the last complete checkpoint; its trainer state, or None when there is none.

    A checkpoint that cannot be restored is an error that names its first unreadable file and
    `start_over`, the setting that starts the run over; nothing is deleted.
    """
    target = completed(folder / "last")
    if not (target / STATE_FILE).is_file():
        return None
    try:
        state = json.loads((target / STATE_FILE).read_text())
        for random_states in target.glob("random_states_*.pkl"):  # accelerate skips one it cannot read
            load(random_states)
        with _weights_only_loads():
            accelerator.load_state(str(target))
    except Exception as error:  # torch, safetensors and json each raise their own types
        raise TextsslError(f"{_first_unreadable(target, error)}; start over with {start_over}, "
                           f"or delete {target}") from None
    return state


@contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Every torch.load inside is weights-only: accelerate loads the states of objects registered
    for checkpointing with weights_only=False, which would run any code pickled in them."""
    before = os.environ.get(FORCE_WEIGHTS_ONLY)
    os.environ[FORCE_WEIGHTS_ONLY] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ[FORCE_WEIGHTS_ONLY]
        else:
            os.environ[FORCE_WEIGHTS_ONLY] = before


def _first_unreadable(target: Path, error: Exception) -> str:
    """The first file of the checkpoint `target` that does not load, and why; else `error`."""
    for file in sorted(path for path in target.iterdir() if path.is_file()):
        try:
            if file.suffix == ".json":
                json.loads(file.read_text())
            elif file.suffix == ".safetensors":
                load_file(file)
            else:
                load(file)  # weights-only
        except Exception as problem:
            return f"{file}: checkpoint file cannot be read ({_reason(problem)})"
    return f"{target}: the checkpoint cannot be restored ({_reason(error)})"


def _reason(error: Exception) -> str:
    if isinstance(error, pickle.UnpicklingError):  # what a weights-only load refuses
        return "it holds something other than tensors and plain values: damaged, or pickled code, which is never run"
    return str(error).split(". ")[0].splitlines()[0] if str(error) else type(error).__name__
