"""What happens around the steps: logging, evaluation with the best-on-dev model saved, checkpoints.

A callback's `on_step_end(loop, state)` runs after every optimizer step, on every process
(each one decides which process writes). It reads the loop through `Loop`, a small view of
it, and keeps what must survive a resume in the `TrainerState`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from textssl.atomic import written_whole
from textssl.engine.checkpoint import save_checkpoint
from textssl.engine.evaluation import evaluate
from textssl.engine.metrics_log import MetricsLog


@dataclass
class TrainerState:
    step: int = 0
    best_step: int | None = None
    best_dev: dict | None = None
    logs: dict[str, float] = field(default_factory=dict)
    """The last step's logs (losses, mask rate, ...), averaged over its micro-batches."""
    log_window: dict[str, list[float]] = field(default_factory=dict)
    """The step logs since the last line of metrics.jsonl (`LogMetrics`); checkpointed, so that a
    run resumed between two lines writes the same next line."""
    resumed_from: int = 0
    train_seconds: float = 0.0
    """Time spent in steps by this session of the run (not by earlier, resumed-from sessions)."""


@dataclass
class Loop:
    """What callbacks see of the loop they run in."""

    accelerator: Accelerator
    model: nn.Module
    """As the accelerator prepared it."""
    output_dir: Path
    max_steps: int
    log: MetricsLog

    @property
    def backbone(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)


class Callback:
    def on_train_begin(self, loop: Loop, state: TrainerState) -> None:
        pass

    def on_step_end(self, loop: Loop, state: TrainerState) -> None:
        pass

    def on_train_end(self, loop: Loop, state: TrainerState) -> None:
        pass


def due(step: int, every: int, last: int) -> bool:
    return step % every == 0 or step == last


class LogMetrics(Callback):
    """Means of the step logs over `every` steps to `metrics.jsonl`, and a progress bar."""

    def __init__(self, every: int, progress_bar: bool = True, description: str = "training"):
        self.every, self.progress_bar, self.description = every, progress_bar, description

    def on_train_begin(self, loop, state):
        main = loop.accelerator.is_main_process
        self.bar = tqdm(total=loop.max_steps, initial=state.step, desc=self.description, dynamic_ncols=True,
                        disable=not (main and self.progress_bar))

    def on_step_end(self, loop, state):
        window = state.log_window  # in the trainer state, which checkpoints carry across a resume
        for key, value in state.logs.items():
            window.setdefault(key, []).append(value)
        self.bar.update(1)
        if due(state.step, self.every, loop.max_steps):
            means = {key: sum(values) / len(values) for key, values in window.items()}
            loop.log.write(state.step, {f"train/{key}": value for key, value in means.items()})
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in means.items() if k.startswith("loss")})
            window.clear()

    def on_train_end(self, loop, state):
        self.bar.close()


class EvaluateAndKeepBest(Callback):
    """Dev metrics every `every` steps; the best model so far (by `metric`) saved to `model/`.

    `evaluated(model)` is the model to evaluate and save (an EMA teacher's, for some methods).
    """

    def __init__(self, every: int, metric: str, dev: DataLoader, num_classes: int,
                 evaluated: Callable[[nn.Module], nn.Module]):
        self.every, self.metric, self.dev, self.num_classes, self.evaluated = every, metric, dev, num_classes, evaluated

    def on_step_end(self, loop, state):
        if not due(state.step, self.every, loop.max_steps):
            return
        dev = evaluate(self.evaluated(loop.model), self.dev, loop.accelerator, self.num_classes)
        loop.log.write(state.step, {f"dev/{key}": value for key, value in dev.items()})
        if state.best_dev is None or dev[self.metric] > state.best_dev[self.metric]:
            state.best_step, state.best_dev = state.step, dev
            if loop.accelerator.is_main_process:
                with written_whole(loop.output_dir / "model") as folder:
                    self.evaluated(loop.backbone).save_pretrained(folder)
            loop.accelerator.wait_for_everyone()


class SaveCheckpoint(Callback):
    """A complete checkpoint every `every` steps and at the end (see `checkpoint.py`)."""

    def __init__(self, every: int):
        self.every = every

    def on_step_end(self, loop, state):
        if due(state.step, self.every, loop.max_steps):
            save_checkpoint(loop.accelerator, loop.output_dir / "checkpoint", state.step,
                            {"best_step": state.best_step, "best_dev": state.best_dev, "log_window": state.log_window})
