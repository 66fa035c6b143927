"""Assembling a run from its config (`build_run`) and running it (`run`, `train`).

`build_run` reads the data, makes the views, builds the backbone, the algorithm and the
`Trainer`; `Run.execute` starts or resumes the run folder, trains, and evaluates the
best-on-dev model on test. `train` is the Python API on top.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import is_tensorboard_available, is_wandb_available, set_seed

from textssl.algorithms import algorithm_class
from textssl.config import Config, PretrainRunConfig
from textssl.data import load_splits, prepare_data, view_maker
from textssl.data.views import SOURCE_COLUMN as STRONG_SOURCE
from textssl.data.views import with_augmented_views
from textssl.engine.callbacks import EvaluateAndKeepBest, LogMetrics, SaveCheckpoint
from textssl.engine.checkpoint import completed, write_whole
from textssl.engine.evaluation import evaluate
from textssl.engine.trainer import Trainer, TrainerState
from textssl.errors import TextsslError
from textssl.models import build_model
from textssl.recipe import load_config

# Settings that may change between a run and its resumption without changing its result.
RESUMABLE_CHANGES = ("resume", "progress_bar", "report_to")


@dataclass
class RunResult:
    metrics: dict[str, Any]
    """What `metrics.json` holds: best step, dev and test metrics, counts, speed."""
    output_dir: Path


@dataclass
class Run:
    """A run assembled from its config: `execute()` starts or resumes its folder, trains, and
    evaluates the best-on-dev model on test."""

    config: Config
    trainer: Trainer

    def execute(self) -> dict[str, Any]:
        """Train (or resume); the metrics, also written to `metrics.json`."""
        state = self.trainer.train(resume=self.prepare_folder())
        return self.finish(state)

    def prepare_folder(self) -> bool:
        """Write the resolved config, or check it against the run the folder holds; whether to resume."""
        config, accelerator = self.config, self.trainer.accelerator
        output_dir, config_file = config.output_dir, config.output_dir / "config.yaml"
        resume = config_file.is_file() and config.train.resume
        if resume and not same_run(config_file.read_text(), config):
            raise TextsslError(f"{output_dir} holds a run with a different config; set "
                               f"train.output_dir to a new folder, or train.resume=false to start over")
        if accelerator.is_main_process:
            if not resume:
                shutil.rmtree(output_dir / "checkpoint", ignore_errors=True)
            output_dir.mkdir(parents=True, exist_ok=True)
            write_whole(config_file, config.to_yaml())  # rewritten by every start, which a kill may hit
        accelerator.wait_for_everyone()
        return resume

    def finish(self, state: TrainerState) -> dict[str, Any]:
        """Evaluate the best-on-dev model on test and write `metrics.json`."""
        trainer, output_dir = self.trainer, self.config.output_dir
        trainer.backbone.load_weights(completed(output_dir / "model"))
        test = evaluate(trainer.model, trainer.test_loader, trainer.accelerator, trainer.num_classes)
        metrics = {
            "best_step": state.best_step,
            "dev": state.best_dev,
            "test": test,
            "max_steps": self.config.train.max_steps,
            "num_labelled": len(trainer.data.labelled),
            "num_unlabelled": len(trainer.data.unlabelled),
            "num_processes": trainer.accelerator.num_processes,
            "train_seconds": state.train_seconds,
            "train_steps_per_second": (state.step - state.resumed_from) / state.train_seconds
            if state.train_seconds else math.nan,
        }
        if trainer.accelerator.is_main_process:
            write_whole(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        trainer.accelerator.wait_for_everyone()
        return metrics


def build_run(config: Config) -> Run:
    """Everything a run needs, assembled from its config: data, views, backbone, algorithm, `Trainer`."""
    train = config.train
    accelerator = make_accelerator(train.mixed_precision, train.report_to, config.output_dir)
    set_seed(train.seed)

    algorithm = algorithm_class(config.algorithm.name)(config.algorithm)
    with accelerator.main_process_first():
        splits = load_splits(config.data, view_column=config.views.column)
        if algorithm.strong_views:  # text views are computed and cached only for methods that read them
            splits = with_augmented_views(splits, config.views)
    label_names = splits["train"].features["label"].names
    input_column = next(c for c in splits["train"].column_names if c not in ("label", STRONG_SOURCE))
    model = build_model(config.model.name, label_names, input_column, config.data.max_length, config.model.mix_layer,
                        config.model.cached_features, config.model.standardise_features, config.model.trust_remote_code)
    with accelerator.main_process_first():
        data = prepare_data(splits, model.preprocess, labels_per_class=config.data.labels_per_class,
                            num_labels=config.data.num_labels, seed=train.seed,
                            all_labelled=algorithm.uses_all_labels, input_column=input_column,
                            class_prior=config.data.class_prior,
                            preprocess_unlabelled=algorithm.reads_unlabelled or model.fits_on_pool)
    model.fit_input(data.unlabelled)
    views = view_maker(config.views, model.collate, input_column, data.unlabelled.column_names)
    if algorithm.needs_strong_view and not views.strong_available():
        raise TextsslError(f"algorithm {algorithm.name!r} compares a weak and a strong view of each unlabelled "
                           f"example: set views.augment (e.g. [backtranslation:backend=apertium] for text, "
                           f"[randaugment] for images) or views.column")
    callbacks = [LogMetrics(train.log_every, train.progress_bar), EvaluateAndKeepBest(train.eval_every, train.best_metric),
                 SaveCheckpoint(train.save_every)]
    return Run(config, Trainer(model, algorithm, data, views, train, config.output_dir, accelerator, callbacks))


def run(config: Config) -> dict[str, Any]:
    """Train (or resume) the run `config` describes; the metrics, also written to `metrics.json`."""
    return build_run(config).execute()


def train(recipe_or_config: str | Path | Config | None = None, *overrides: str, **sections: dict) -> RunResult:
    """Train from a recipe file (or a `Config`, or the defaults) and return its metrics and folder.

    Overrides come as `section.key=value` strings or as keyword sections:

        textssl.train("recipes/text/uda.yaml", "train.max_steps=100", data={"labels_per_class": 20})
    """
    if isinstance(recipe_or_config, Config):
        if overrides or sections:
            raise TextsslError("overrides apply to a recipe; change the Config object instead")
        config = recipe_or_config
    else:
        config = load_config(recipe_or_config, list(overrides), sections)
    return RunResult(run(config), config.output_dir)


TRACKER_AVAILABLE = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}


def make_accelerator(mixed_precision: str, report_to: str = "none", project_dir: Path | None = None) -> Accelerator:
    """accelerate's Accelerator for this machine (a GPU when there is one), or one clear error."""
    if report_to != "none" and not TRACKER_AVAILABLE[report_to]():
        raise TextsslError(f"train.report_to={report_to}: the package is not installed; pip install {report_to}")
    try:
        return Accelerator(mixed_precision=mixed_precision, cpu=not _has_accelerator(),
                           log_with=None if report_to == "none" else report_to, project_dir=project_dir)
    except ValueError as error:
        if "already been initialized" not in str(error):
            raise
        raise TextsslError(f"train.mixed_precision={mixed_precision}: this Python process already trained with "
                           f"another precision, and accelerate keeps one per process; run it in a new process") from None


def _has_accelerator() -> bool:
    # Accelerate only turns several CPU processes (torchrun) into MULTI_CPU when told `cpu=True`.
    if hasattr(torch, "accelerator"):
        return torch.accelerator.is_available()
    return torch.cuda.is_available()


def same_run(saved_yaml: str, config: Config | PretrainRunConfig, section: str = "train") -> bool:
    """Whether the config a run folder holds describes the run `config` describes.

    The settings a resumed run may change are left out, and a setting the saved config lacks
    (it was written before the setting existed) counts at its default, so that a release that
    adds or reorders settings can still resume a run.
    """
    defaults = Config(algorithm=type(config.algorithm)()) if isinstance(config, Config) else type(config)()
    saved = _with_defaults(yaml.safe_load(saved_yaml), yaml.safe_load(defaults.to_yaml()))
    return _without_resumable(saved, section) == _without_resumable(yaml.safe_load(config.to_yaml()), section)


def _without_resumable(config: dict, section: str) -> dict:
    for key in RESUMABLE_CHANGES:
        config[section].pop(key, None)
    config.get("views", {}).pop("workers", None)  # the views are the same for any number of workers
    return config


def _with_defaults(saved: dict, defaults: dict) -> dict:
    return {key: _with_defaults(value, defaults[key]) if isinstance(value, dict) and isinstance(defaults.get(key), dict)
            else value for key, value in {**defaults, **saved}.items()}
