"""What happens around the steps: logging, evaluation with the best-on-dev model saved, checkpoints.

A callback's `on_step_end(trainer, state)` runs after every optimizer step, on every
process (each one decides which process writes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from textssl.engine.checkpoint import replace_directory, save_checkpoint
from textssl.engine.evaluation import evaluate

if TYPE_CHECKING:
    from textssl.engine.trainer import Trainer, TrainerState


class Callback:
    def on_train_begin(self, trainer: Trainer, state: TrainerState) -> None:
        pass

    def on_step_end(self, trainer: Trainer, state: TrainerState) -> None:
        pass

    def on_train_end(self, trainer: Trainer, state: TrainerState) -> None:
        pass


def due(step: int, every: int, last: int) -> bool:
    return step % every == 0 or step == last


class LogMetrics(Callback):
    """Means of the step logs over `every` steps to `metrics.jsonl`, and a progress bar."""

    def __init__(self, every: int, progress_bar: bool = True):
        self.every, self.progress_bar = every, progress_bar

    def on_train_begin(self, trainer, state):
        main = trainer.accelerator.is_main_process
        self.bar = tqdm(total=trainer.args.max_steps, initial=state.step, desc="training", dynamic_ncols=True,
                        disable=not (main and self.progress_bar))

    def on_step_end(self, trainer, state):
        window = state.log_window  # in the trainer state, which checkpoints carry across a resume
        for key, value in state.logs.items():
            window.setdefault(key, []).append(value)
        self.bar.update(1)
        if due(state.step, self.every, trainer.args.max_steps):
            means = {key: sum(values) / len(values) for key, values in window.items()}
            trainer.log.write(state.step, {f"train/{key}": value for key, value in means.items()})
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in means.items() if k.startswith("loss")})
            window.clear()

    def on_train_end(self, trainer, state):
        self.bar.close()


class EvaluateAndKeepBest(Callback):
    """Dev metrics every `every` steps; the best model so far (by `metric`) saved to `model/`."""

    def __init__(self, every: int, metric: str):
        self.every, self.metric = every, metric

    def on_step_end(self, trainer, state):
        if not due(state.step, self.every, trainer.args.max_steps):
            return
        evaluated = trainer.algorithm.evaluation_model(trainer.model)
        dev = evaluate(evaluated, trainer.dev_loader, trainer.accelerator, trainer.num_classes)
        trainer.log.write(state.step, {f"dev/{key}": value for key, value in dev.items()})
        if state.best_dev is None or dev[self.metric] > state.best_dev[self.metric]:
            state.best_step, state.best_dev = state.step, dev
            if trainer.accelerator.is_main_process:
                replace_directory(trainer.output_dir / "model",
                                  trainer.algorithm.evaluation_model(trainer.backbone).save_pretrained)
            trainer.accelerator.wait_for_everyone()


class SaveCheckpoint(Callback):
    """A complete checkpoint every `every` steps and at the end (see `checkpoint.py`)."""

    def __init__(self, every: int):
        self.every = every

    def on_step_end(self, trainer, state):
        if due(state.step, self.every, trainer.args.max_steps):
            save_checkpoint(trainer.accelerator, trainer.output_dir / "checkpoint", state.step,
                            {"best_step": state.best_step, "best_dev": state.best_dev, "log_window": state.log_window})
