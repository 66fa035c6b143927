"""The training loop on accelerate, for every kind of training textssl does.

A `Task` says what is trained: where a micro-batch comes from and what its loss is (a
semi-supervised method over labelled and unlabelled batches, or a pretraining objective).
The `Trainer` runs it: accumulation, mixed precision, clipping, the optimizer and schedule,
and callbacks that log, evaluate and checkpoint. Batches are a pure function of the step
(see `BatchStream`), so a checkpoint needs only the step besides what accelerate saves
(model, optimizer, scheduler, the task's state, RNG states of every process).
"""

from __future__ import annotations

import math
import shutil
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import is_tensorboard_available, is_wandb_available
from torch import nn

from textssl.atomic import write_whole
from textssl.batch import StepOutput
from textssl.config import LoopConfig, Recipe
from textssl.engine.callbacks import Callback, Loop, TrainerState
from textssl.engine.checkpoint import load_checkpoint
from textssl.engine.metrics_log import MetricsLog
from textssl.engine.optim import build_optimizer, build_scheduler
from textssl.errors import TextsslError


class Task:
    """What the loop trains. `state` (None, or a module of buffers and sub-modules) is placed on
    the device and checkpointed with the run."""

    state: nn.Module | None = None

    def batch(self, number: int, device: torch.device) -> Any:
        """Micro-batch `number` of the run, on `device`."""
        raise NotImplementedError

    def training_step(self, model: nn.Module, batch: Any, progress: float) -> StepOutput:
        """The loss of a micro-batch; `progress` is step / max_steps."""
        raise NotImplementedError

    def after_optimizer_step(self, model: nn.Module) -> None:
        """Called after every optimizer step with the unwrapped model (EMA updates go here)."""

    def analyse(self, output: StepOutput, batch: Any) -> dict[str, float]:
        """More logs of a micro-batch, computed after its loss (analysis only)."""
        return {}


class Trainer:
    def __init__(self, model: nn.Module, task: Task, args: LoopConfig, output_dir: Path, accelerator: Accelerator,
                 callbacks: list[Callback] = ()):
        self.task, self.args, self.output_dir, self.accelerator = task, args, output_dir, accelerator
        self.callbacks = list(callbacks)
        optimizer = build_optimizer(model, args)
        self.scheduler = build_scheduler(optimizer, args)  # stepped once per optimizer step, by us
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        if task.state is None:
            accelerator.register_for_checkpointing(self.scheduler)
        else:
            task.state.to(accelerator.device)
            accelerator.register_for_checkpointing(self.scheduler, task.state)

    @property
    def backbone(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def train(self, resume: bool = True) -> TrainerState:
        """Train to `args.max_steps`, from the last checkpoint in the output folder when `resume`."""
        args, accelerator = self.args, self.accelerator
        state = TrainerState()
        saved = (load_checkpoint(accelerator, self.output_dir / "checkpoint", f"{args.section}.resume=false")
                 if resume else None)
        if saved:  # keys absent from the checkpoints of older releases and of pretraining runs get their defaults
            state.step, state.best_step, state.best_dev = saved["step"], saved.get("best_step"), saved.get("best_dev")
            state.log_window = saved.get("log_window", {})
            state.resumed_from = state.step
        if accelerator.log_with:
            accelerator.init_trackers(self.output_dir.name)
        log = MetricsLog(self.output_dir / "metrics.jsonl", after_step=state.step,
                         enabled=accelerator.is_main_process, also=accelerator.log if accelerator.log_with else None)
        loop = Loop(accelerator, self.model, self.output_dir, args.max_steps, log)
        for callback in self.callbacks:
            callback.on_train_begin(loop, state)
        self.model.train()
        while state.step < args.max_steps:
            started = time.perf_counter()
            state.logs = self.step(state.step)
            self.task.after_optimizer_step(self.backbone)
            state.train_seconds += time.perf_counter() - started
            state.step += 1
            for callback in self.callbacks:
                callback.on_step_end(loop, state)
        for callback in self.callbacks:
            callback.on_train_end(loop, state)
        for tracker in accelerator.trackers:  # not end_training(): that also ends the process group
            tracker.finish()
        return state

    def step(self, step: int) -> dict[str, float]:
        """One optimizer step over `gradient_accumulation_steps` micro-batches; the mean logs."""
        accelerator, accumulation = self.accelerator, self.args.gradient_accumulation_steps
        logged: dict[str, list[float]] = defaultdict(list)
        for micro in range(accumulation):
            batch = self.task.batch(step * accumulation + micro, accelerator.device)
            last = micro == accumulation - 1
            with nullcontext() if last else accelerator.no_sync(self.model), accelerator.autocast():
                output = self.task.training_step(self.model, batch, step / self.args.max_steps)
                accelerator.backward(output.loss / accumulation)
            for key, value in [*output.logs.items(), *self.task.analyse(output, batch).items()]:
                logged[key].append(float(value))
        logs = {key: sum(values) / len(values) for key, values in logged.items()}
        logs.update(self.mean_over_processes({key: logs[key] for key in output.logs}))
        max_norm = self.args.max_grad_norm or math.inf  # an infinite bound measures the norm, clips nothing
        logs["grad_norm"] = float(accelerator.clip_grad_norm_(self.model.parameters(), max_norm))
        logs["lr"] = max(self.scheduler.get_last_lr())  # the top layers' rate under layer_decay
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return logs

    def mean_over_processes(self, logs: dict[str, float]) -> dict[str, float]:
        """The task's logs (losses over this process's share of the batch) averaged over the
        processes: the global batch's value, as one process with that batch logs it.

        Every process holds the same keys (a task logs the same keys every step), so they
        reduce in the same order.
        """
        if self.accelerator.num_processes == 1 or not logs:
            return logs
        keys = sorted(logs)
        local = torch.tensor([logs[key] for key in keys], dtype=torch.float64, device=self.accelerator.device)
        return dict(zip(keys, self.accelerator.reduce(local, reduction="mean").tolist()))


TRACKER_AVAILABLE = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}


def make_accelerator(args: LoopConfig, project_dir: Path | None = None) -> Accelerator:
    """accelerate's Accelerator for this machine (a GPU when there is one), or one clear error."""
    report_to, section = args.report_to, args.section
    if report_to != "none" and not TRACKER_AVAILABLE[report_to]():
        raise TextsslError(f"{section}.report_to={report_to}: the package is not installed; pip install {report_to}")
    try:
        return Accelerator(mixed_precision=args.mixed_precision, cpu=not _has_accelerator(),
                           log_with=None if report_to == "none" else report_to, project_dir=project_dir)
    except ValueError as error:
        if "already been initialized" not in str(error):
            raise
        raise TextsslError(f"{section}.mixed_precision={args.mixed_precision}: this Python process already trained "
                           f"with another precision, and accelerate keeps one per process; run it in a new process"
                           ) from None


def open_run_folder(config: Recipe, accelerator: Accelerator) -> bool:
    """Write the resolved recipe into the run folder, or check it against the run the folder
    holds; whether to resume it."""
    output_dir, args = config.output_dir, config.loop
    recipe_file = output_dir / config.config_file
    resume = recipe_file.is_file() and args.resume
    if resume and not config.same_run(recipe_file.read_text()):
        raise TextsslError(f"{output_dir} holds a run with a different config; set {args.section}.output_dir to a "
                           f"new folder, or {args.section}.resume=false to start over")
    if accelerator.is_main_process:
        if not resume:
            shutil.rmtree(output_dir / "checkpoint", ignore_errors=True)
        output_dir.mkdir(parents=True, exist_ok=True)
        write_whole(recipe_file, config.to_yaml())  # rewritten by every start, which a kill may hit
    accelerator.wait_for_everyone()
    return resume


def _has_accelerator() -> bool:
    # Accelerate only turns several CPU processes (torchrun) into MULTI_CPU when told `cpu=True`.
    if hasattr(torch, "accelerator"):
        return torch.accelerator.is_available()
    return torch.cuda.is_available()
