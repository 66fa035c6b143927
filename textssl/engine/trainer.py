"""The training loop: one algorithm, any backbone, on accelerate.

Every step draws a labelled batch and an unlabelled batch (`uratio` times larger; none for
a method that reads no unlabelled example), makes the views the algorithm asks for, and
asks the algorithm for a loss; callbacks log, evaluate and checkpoint. Batches are a pure function of the step (see `BatchStream`), so a
checkpoint needs only the step besides what accelerate saves (model, optimizer,
scheduler, algorithm state, RNG states of every process).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from textssl.algorithms import Algorithm, RunContext, StepOutput
from textssl.batch import Views, to_device
from textssl.config import TrainConfig
from textssl.data import BatchStream, SSLData, ViewMaker
from textssl.engine.callbacks import Callback
from textssl.engine.checkpoint import load_checkpoint
from textssl.engine.metrics_log import MetricsLog
from textssl.engine.optim import build_optimizer, build_scheduler
from textssl.models import Classifier


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


class Trainer:
    def __init__(self, model: Classifier, algorithm: Algorithm, data: SSLData, views: ViewMaker, args: TrainConfig,
                 output_dir: Path, accelerator: Accelerator, callbacks: list[Callback] = ()):
        self.args, self.output_dir, self.accelerator, self.data, self.views = args, output_dir, accelerator, data, views
        self.algorithm, self.callbacks = algorithm, list(callbacks)
        self.num_classes = len(data.label_names)
        rank, world = accelerator.process_index, accelerator.num_processes
        self.labelled = BatchStream(data.labelled, args.batch_size, (args.seed, 0), rank, world)
        self.unlabelled = (BatchStream(data.unlabelled, args.batch_size * args.uratio, (args.seed, 1), rank, world)
                           if algorithm.reads_unlabelled else None)

        labelled_counts = torch.bincount(torch.as_tensor(data.labelled["label"]), minlength=self.num_classes)
        pool_prior = None if data.pool_prior is None else torch.as_tensor(data.pool_prior, dtype=torch.float32)
        algorithm.setup(model, RunContext(self.num_classes, len(data.unlabelled), labelled_counts,
                                          gather=accelerator.gather, num_processes=world, process_index=rank,
                                          pool_prior=pool_prior))

        def eval_loader(dataset):
            return DataLoader(dataset, batch_size=args.eval_batch_size,
                              collate_fn=lambda rows: model.collate({k: [r[k] for r in rows] for k in rows[0]}))

        optimizer = build_optimizer(model, args)
        self.scheduler = build_scheduler(optimizer, args)  # stepped once per optimizer step, by us
        self.model, self.optimizer, self.dev_loader, self.test_loader = accelerator.prepare(
            model, optimizer, eval_loader(data.dev), eval_loader(data.test))
        algorithm.state.to(accelerator.device)
        accelerator.register_for_checkpointing(self.scheduler, algorithm.state)

    @property
    def backbone(self) -> Classifier:
        return self.accelerator.unwrap_model(self.model)

    def batches(self, batch_number: int) -> tuple[dict, Views | None]:
        """The labelled batch and the unlabelled views of micro-batch `batch_number`, on the device."""
        device, algorithm = self.accelerator.device, self.algorithm
        rows, index, epochs = self.labelled.rows(batch_number)
        labelled = {**self.views.labelled(rows, index, epochs), "index": torch.as_tensor(index)}
        if self.unlabelled is None:
            return to_device(labelled, device), None
        rows, index, epochs = self.unlabelled.rows(batch_number)
        unlabelled = self.views.unlabelled(rows, index, epochs, algorithm.weak_views, algorithm.strong_views)
        return to_device(labelled, device), unlabelled.to(device)

    def train(self, resume: bool = True) -> TrainerState:
        """Train to `args.max_steps`, from the last checkpoint in the output folder when `resume`."""
        args, accelerator = self.args, self.accelerator
        state = TrainerState()
        saved = load_checkpoint(accelerator, self.output_dir / "checkpoint", "train.resume=false") if resume else None
        if saved:
            state.step, state.best_step, state.best_dev = saved["step"], saved["best_step"], saved["best_dev"]
            state.log_window = saved.get("log_window", {})  # absent from checkpoints of older releases
            state.resumed_from = state.step
        if accelerator.log_with:
            accelerator.init_trackers(self.output_dir.name)
        self.log = MetricsLog(self.output_dir / "metrics.jsonl", after_step=state.step,
                              enabled=accelerator.is_main_process, also=accelerator.log if accelerator.log_with else None)
        for callback in self.callbacks:
            callback.on_train_begin(self, state)
        self.model.train()
        while state.step < args.max_steps:
            started = time.perf_counter()
            state.logs = self.step(state.step)
            self.algorithm.after_optimizer_step(self.backbone)
            state.train_seconds += time.perf_counter() - started
            state.step += 1
            for callback in self.callbacks:
                callback.on_step_end(self, state)
        for callback in self.callbacks:
            callback.on_train_end(self, state)
        for tracker in accelerator.trackers:  # not end_training(): that also ends the process group
            tracker.finish()
        return state

    def step(self, step: int) -> dict[str, float]:
        """One optimizer step over `gradient_accumulation_steps` micro-batches; the mean logs."""
        accelerator, accumulation = self.accelerator, self.args.gradient_accumulation_steps
        logged: dict[str, list[float]] = defaultdict(list)
        for micro in range(accumulation):
            labelled, unlabelled = self.batches(step * accumulation + micro)
            last = micro == accumulation - 1
            with nullcontext() if last else accelerator.no_sync(self.model), accelerator.autocast():
                output = self.algorithm.training_step(self.model, labelled, unlabelled, step / self.args.max_steps)
                accelerator.backward(output.loss / accumulation)
            for key, value in [*output.logs.items(), *self.analyse_unlabelled(output, unlabelled).items()]:
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
        """The algorithm's logs (losses over this process's share of the batch) averaged over
        the processes: the global batch's value, as one process with that batch logs it.

        Every process holds the same keys (an algorithm logs the same keys every step), so
        they reduce in the same order.
        """
        if self.accelerator.num_processes == 1 or not logs:
            return logs
        keys = sorted(logs)
        local = torch.tensor([logs[key] for key in keys], dtype=torch.float64, device=self.accelerator.device)
        return dict(zip(keys, self.accelerator.reduce(local, reduction="mean").tolist()))

    def analyse_unlabelled(self, output: StepOutput, unlabelled: Views | None) -> dict[str, float]:
        """Mask rate, predicted class shares and pseudo-label accuracy against the hidden labels.

        Analysis only: the hidden labels are read here, after the loss has been computed.
        """
        if output.unlabelled_probs is None:
            return {}
        probs, mask, index = self.accelerator.gather(
            (output.unlabelled_probs.detach().float(), output.mask.detach().float(), unlabelled.index))
        predicted, mask = probs.argmax(-1).cpu(), mask.cpu()
        truth = torch.as_tensor(self.data.unlabelled_truth[index.cpu().numpy()])
        logs = {"unlabelled/mask_rate": mask.mean().item()}
        for label, name in enumerate(self.data.label_names):
            logs[f"unlabelled/predicted_share/{name}"] = (predicted == label).float().mean().item()
        if mask.sum() > 0:
            logs["unlabelled/pseudo_label_accuracy"] = (((predicted == truth).float() * mask).sum() / mask.sum()).item()
        return logs
