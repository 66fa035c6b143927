"""The training loop: one algorithm, any backbone, on accelerate.

Every step draws a labelled batch and an unlabelled batch (`uratio` times larger) and asks
the algorithm for a loss; the engine owns everything else. Batches are a pure function of
the step (see `BatchStream`), so a checkpoint needs only the step besides what accelerate
saves (model, optimizer, scheduler, RNG states of every process).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import defaultdict
from contextlib import nullcontext

import torch
import yaml
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from textssl.algorithms import StepOutput, algorithm_class
from textssl.config import Config
from textssl.data import BatchStream, Views, load_splits, prepare_data
from textssl.data.stream import to_device
from textssl.data.views import SOURCE_COLUMN as STRONG_SOURCE
from textssl.data.views import with_augmented_views
from textssl.engine.checkpoint import completed, load_checkpoint, replace_directory, save_checkpoint
from textssl.engine.evaluation import evaluate
from textssl.engine.metrics_log import MetricsLog
from textssl.engine.optim import build_optimizer, build_scheduler
from textssl.errors import TextsslError
from textssl.models import build_model

# Settings that may change between a run and its resumption without changing its result.
RESUMABLE_CHANGES = ("resume", "progress_bar")


class Trainer:
    def __init__(self, config: Config):
        self.config = config
        train = config.train
        # A second run in the same process (notebooks, tests) may ask for another precision;
        # the process group (PartialState) is kept.
        AcceleratorState._reset_state()
        self.accelerator = accelerator = Accelerator(mixed_precision=train.mixed_precision, cpu=not _has_accelerator())
        self.output_dir = config.output_dir
        set_seed(train.seed)

        with accelerator.main_process_first():
            splits = with_augmented_views(load_splits(config.data, view_column=config.views.column), config.views)
        label_names = splits["train"].features["label"].names
        input_column = next(c for c in splits["train"].column_names if c not in ("label", STRONG_SOURCE))
        self.algorithm = algorithm = algorithm_class(config.algorithm.name)(config.algorithm, len(label_names))
        if algorithm.needs_strong_view and STRONG_SOURCE not in splits["train"].column_names:
            raise TextsslError(f"algorithm {algorithm.name!r} compares a weak and a strong view of each unlabelled "
                               f"example: set views.augment (e.g. [backtranslation:backend=apertium]) or views.column")
        model = build_model(config.model.name, label_names, input_column, config.data.max_length)
        with accelerator.main_process_first():
            self.data = prepare_data(splits, model.preprocess, labels_per_class=config.data.labels_per_class,
                                     num_labels=config.data.num_labels, seed=train.seed,
                                     all_labelled=algorithm.uses_all_labels, input_column=input_column)
        labelled_counts = torch.bincount(torch.as_tensor(self.data.labelled["label"]), minlength=len(label_names))
        algorithm.setup(model, labelled_counts)

        rank, world = accelerator.process_index, accelerator.num_processes
        self.labelled = BatchStream(self.data.labelled, train.batch_size, model.collate, (train.seed, 0), rank, world)
        self.unlabelled = BatchStream(self.data.unlabelled, train.batch_size * train.uratio, model.collate,
                                      (train.seed, 1), rank, world)

        def eval_loader(dataset):
            return DataLoader(dataset, batch_size=train.eval_batch_size,
                              collate_fn=lambda rows: model.collate({k: [r[k] for r in rows] for k in rows[0]}))

        optimizer = build_optimizer(model, train)
        self.scheduler = build_scheduler(optimizer, train)  # stepped once per optimizer step, by us
        self.model, self.optimizer, self.dev_loader, self.test_loader = accelerator.prepare(
            model, optimizer, eval_loader(self.data.dev), eval_loader(self.data.test))
        algorithm.state.to(accelerator.device)
        accelerator.register_for_checkpointing(self.scheduler, algorithm.state)

    @property
    def backbone(self):
        return self.accelerator.unwrap_model(self.model)

    def _start(self) -> dict:
        """Write the resolved config, or resume the run this folder holds; the trainer state."""
        config_file = self.output_dir / "config.yaml"
        state = {"step": 0, "best_step": None, "best_dev": None}
        if config_file.is_file() and self.config.train.resume:
            if _comparable(config_file.read_text()) != _comparable(self.config.to_yaml()):
                raise TextsslError(f"{self.output_dir} holds a run with a different config; set "
                                   f"train.output_dir to a new folder, or train.resume=false to start over")
            state = load_checkpoint(self.accelerator, self.output_dir / "checkpoint") or state
        elif self.accelerator.is_main_process:
            shutil.rmtree(self.output_dir / "checkpoint", ignore_errors=True)
        if self.accelerator.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            config_file.write_text(self.config.to_yaml())
        self.accelerator.wait_for_everyone()
        return state

    def train(self) -> dict:
        config, accelerator = self.config.train, self.accelerator
        state = self._start()
        main = accelerator.is_main_process
        log = MetricsLog(self.output_dir / "metrics.jsonl", after_step=state["step"], enabled=main)
        window: dict[str, list[float]] = defaultdict(list)
        accumulation = config.gradient_accumulation_steps
        bar = tqdm(total=config.max_steps, initial=state["step"], desc="training", dynamic_ncols=True,
                   disable=not (main and config.progress_bar))
        first_step, train_seconds = state["step"], 0.0
        self.model.train()

        for step in range(state["step"], config.max_steps):
            started = time.perf_counter()
            for micro in range(accumulation):
                batch_number = step * accumulation + micro
                labelled = to_device(self.labelled.batch(batch_number), accelerator.device)
                unlabelled = self.unlabelled.views(batch_number).to(accelerator.device)
                last = micro == accumulation - 1
                with nullcontext() if last else accelerator.no_sync(self.model), accelerator.autocast():
                    output = self.algorithm.training_step(self.model, labelled, unlabelled, step / config.max_steps)
                    accelerator.backward(output.loss / accumulation)
                for key, value in [*output.logs.items(), *self._analyse_unlabelled(output, unlabelled).items()]:
                    window[key].append(float(value))
            grad_norm = accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
            window["grad_norm"].append(float(grad_norm))
            window["lr"].append(self.scheduler.get_last_lr()[0])
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.algorithm.after_optimizer_step(self.backbone)
            train_seconds += time.perf_counter() - started
            done = step + 1
            bar.update(1)

            if done % config.log_every == 0 or done == config.max_steps:
                means = {key: sum(values) / len(values) for key, values in window.items()}
                log.write(done, {f"train/{key}": value for key, value in means.items()})
                bar.set_postfix({k: f"{v:.4g}" for k, v in means.items() if k.startswith("loss")})
                window.clear()
            if done % config.eval_every == 0 or done == config.max_steps:
                evaluated = self.algorithm.evaluation_model(self.model)
                dev = evaluate(evaluated, self.dev_loader, accelerator, len(self.data.label_names))
                log.write(done, {f"dev/{key}": value for key, value in dev.items()})
                best = state["best_dev"]
                if best is None or dev[config.best_metric] > best[config.best_metric]:
                    state.update(best_step=done, best_dev=dev)
                    if main:
                        saved = self.algorithm.evaluation_model(self.backbone)
                        replace_directory(self.output_dir / "model", saved.save_pretrained)
                    accelerator.wait_for_everyone()
            if done % config.save_every == 0 or done == config.max_steps:
                save_checkpoint(accelerator, self.output_dir / "checkpoint", done,
                                {"best_step": state["best_step"], "best_dev": state["best_dev"]})
        bar.close()
        return self._finish(state, first_step, train_seconds)

    def _analyse_unlabelled(self, output: StepOutput, unlabelled: Views) -> dict[str, float]:
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

    def _finish(self, state: dict, first_step: int, train_seconds: float) -> dict:
        """Evaluate the best-on-dev model on test and write `metrics.json`."""
        self.backbone.load_weights(completed(self.output_dir / "model"))
        test = evaluate(self.model, self.test_loader, self.accelerator, len(self.data.label_names))
        steps_run = self.config.train.max_steps - first_step
        metrics = {
            "best_step": state["best_step"],
            "dev": state["best_dev"],
            "test": test,
            "max_steps": self.config.train.max_steps,
            "num_labelled": len(self.data.labelled),
            "num_unlabelled": len(self.data.unlabelled),
            "num_processes": self.accelerator.num_processes,
            "train_seconds": train_seconds,
            "train_steps_per_second": steps_run / train_seconds if train_seconds else math.nan,
        }
        if self.accelerator.is_main_process:
            (self.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        self.accelerator.wait_for_everyone()
        return metrics


def _has_accelerator() -> bool:
    # Accelerate only turns several CPU processes (torchrun) into MULTI_CPU when told `cpu=True`.
    if hasattr(torch, "accelerator"):
        return torch.accelerator.is_available()
    return torch.cuda.is_available()


def _comparable(config_yaml: str) -> dict:
    """The config as a mapping, so that a release that reorders fields can still resume a run."""
    config = yaml.safe_load(config_yaml)
    for key in RESUMABLE_CHANGES:
        config["train"].pop(key, None)
    return config


def train(config: Config) -> dict:
    return Trainer(config).train()
