"""Assembling a run from its config (`build_run`) and running it (`run`, `train`).

`build_run` reads the data, makes the views, builds the backbone, the algorithm and the
`Trainer`; `Run.execute` starts or resumes the run folder, trains, moves the decision rule to
the pool's prior (`textssl.prior`, `data.prior`) and evaluates the final and the best-on-dev
model on test. `train` is the Python API on top.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from accelerate.utils import set_seed
from datasets import Dataset
from torch.utils.data import DataLoader

from textssl.algorithms import algorithm_class
from textssl.atomic import completed, write_whole, written_whole
from textssl.config import Config
from textssl.data import load_splits, prepare_data, view_maker
from textssl.data.view_cache import with_augmented_views
from textssl.engine.callbacks import EvaluateAndKeepBest, LogMetrics, SaveCheckpoint, TrainerState
from textssl.engine.evaluation import evaluate, outputs
from textssl.engine.semi_supervised import SemiSupervisedTask
from textssl.engine.trainer import Trainer, make_accelerator, open_run_folder
from textssl.errors import TextsslError
from textssl.models import Classifier, build_backbone
from textssl.prior import PriorShift, estimate_shift, predicted_shares
from textssl.recipe import load_config

log = logging.getLogger(__name__)

POOL_SAMPLE = 10_000
"""Unlabelled examples the pool's prior is estimated on: a share is then known to about half a point."""
UNSTABLE = 0.1
"""An estimate whose three spreads exceed this could hide a shift of ten points: kept out with a warning."""


@dataclass
class RunResult:
    metrics: dict[str, Any]
    """What `metrics.json` holds: best step, dev and test metrics (and test at the final step), counts, speed."""
    output_dir: Path


@dataclass
class Run:
    """A run assembled from its config: `execute()` starts or resumes its folder, trains, and
    evaluates on test the model of the final step and the best-on-dev model."""

    config: Config
    task: SemiSupervisedTask
    trainer: Trainer
    dev_loader: DataLoader
    test_loader: DataLoader

    def execute(self) -> dict[str, Any]:
        """Train (or resume); the metrics, also written to `metrics.json`."""
        state = self.trainer.train(resume=open_run_folder(self.config, self.trainer.accelerator))
        return self.finish(state)

    def finish(self, state: TrainerState) -> dict[str, Any]:
        """Evaluate on test the final step's model, then the best-on-dev one, each with its
        decision rule moved to the pool's prior when `data.prior` asks (and with the labelled
        prior, for comparison), and write `metrics.json` (the best model's output layer takes the
        shift, and `prior.json` records it).

        Both are reported because the choice of the step is itself a use of labels: the best
        step is chosen on the dev split, which few-label users do not have."""
        trainer, data, output_dir = self.trainer, self.task.data, self.config.output_dir
        test_final, test_final_labelled, _ = self.test(self.task.algorithm.evaluation_model(trainer.model))
        best = completed(output_dir / "model")
        trainer.backbone.load_weights(best)
        folded = PriorShift.read(best)  # by an earlier finish of this run
        if folded:
            folded.unfold_from(trainer.model, self.task.num_classes)
        test, test_labelled, shift = self.test(trainer.model)
        if trainer.accelerator.is_main_process and (shift or folded):
            with written_whole(output_dir / "model") as folder:
                trainer.backbone.save_pretrained(folder)
                if shift:
                    shift.save(folder)
        metrics = {
            "best_step": state.best_step,
            "dev": state.best_dev,
            "test": test,
            "test_final": test_final,
            "prior": asdict(shift) if shift else None,
            "test_labelled_prior": test_labelled,
            "test_final_labelled_prior": test_final_labelled,
            "max_steps": self.config.train.max_steps,
            "num_labelled": len(data.labelled),
            "num_unlabelled": len(data.unlabelled),
            "num_processes": trainer.accelerator.num_processes,
            "train_seconds": state.train_seconds,
            "train_steps_per_second": (state.step - state.resumed_from) / state.train_seconds
            if state.train_seconds else math.nan,
        }
        if trainer.accelerator.is_main_process:
            write_whole(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        trainer.accelerator.wait_for_everyone()
        return metrics

    def test(self, model: Classifier) -> tuple[dict[str, Any], dict[str, Any] | None, PriorShift | None]:
        """`model`'s test metrics with its decision moved to the pool's prior when `data.prior`
        asks (the shift folded into `model`), the same with the labelled prior when the two
        differ (None otherwise), and the shift."""
        labelled = evaluate(model, self.test_loader, self.trainer.accelerator, self.task.num_classes)
        shift = self.decide_with_pool_prior(model)
        if shift is None:
            return labelled, None, None
        return evaluate(model, self.test_loader, self.trainer.accelerator, self.task.num_classes), labelled, shift

    @cached_property
    def pool_sample(self) -> DataLoader:
        """Up to `POOL_SAMPLE` unlabelled examples, drawn with train.seed, preprocessed for the model."""
        backbone, data = self.trainer.backbone, self.task.data
        rows = np.random.default_rng(self.config.train.seed).permutation(len(data.unlabelled))[:POOL_SAMPLE]
        raw = data.unlabelled_inputs().select(np.sort(rows))
        pool = raw.map(backbone.preprocess, batched=True, remove_columns=raw.column_names,
                       desc="preprocessing the pool's sample")
        return self.trainer.accelerator.prepare(evaluation_loader(pool, backbone, self.config.train.eval_batch_size))

    def decide_with_pool_prior(self, model: Classifier) -> PriorShift | None:
        """Estimate the pool's prior from `model`'s logits on (a sample of) the pool, calibrated on
        the dev labels, with the labels drawn at random (all of dev, a random labelled draw) as
        observations of it, and fold the shift to it into `model`'s output layer; None when
        `data.prior` keeps the labelled prior, or the estimate is too uncertain to tell from what the
        model does now (see `departs_from`)."""
        config, data, accelerator = self.config, self.task.data, self.trainer.accelerator
        if not config.data.decides_with_pool_prior(self.task.algorithm.needs.every_label):
            return None
        pool_logits, _ = outputs(model, self.pool_sample, accelerator)
        dev_logits, dev_labels = outputs(model, self.dev_loader, accelerator)
        labelled_prior = np.bincount(data.labelled["label"], minlength=self.task.num_classes) / len(data.labelled)
        shift = estimate_shift(pool_logits, labelled_prior, estimator=config.data.prior_estimator,
                               decision=config.data.prior_decision, tolerance=config.data.share_tolerance,
                               held_out_logits=dev_logits, held_out_labels=dev_labels, observed=data.random_counts,
                               known_prior=data.pool_prior, seed=config.train.seed)
        # The shares rules move what the model predicts; the Bayes rule, the prior it was trained under.
        now, which = ((predicted_shares(pool_logits), "the shares the model predicts on the pool")
                      if config.data.prior_decision != "bayes" else (labelled_prior, "the labelled prior"))
        if not shift.departs_from(now):
            kept = (f"kept the model's decision: the pool's prior estimate {np.round(shift.pool_prior, 3).tolist()} "
                    f"and {which}, {np.round(now, 3).tolist()},")
            if 3 * shift.spread > UNSTABLE:
                log.warning("%s are too close for its spread (%.3f) to tell apart; label dev at random, or set "
                            "data.class_prior if you know the shares", kept, shift.spread)
            else:
                log.info("%s agree (within three times its spread, %.3f)", kept, shift.spread)
            return None
        shift.fold_into(model, self.task.num_classes)
        return shift


def build_run(config: Config) -> Run:
    """Everything a run needs, assembled from its config: data, views, backbone, algorithm, `Trainer`."""
    train = config.train
    accelerator = make_accelerator(train, config.output_dir)
    set_seed(train.seed)

    algorithm = algorithm_class(config.algorithm.name)(config.algorithm)
    needs = algorithm.needs
    with accelerator.main_process_first():
        splits = load_splits(config.data, view_column=config.views.column)
        if needs.strong_views:  # text views are computed and cached only for methods that read them
            splits = with_augmented_views(splits, config.views)
    train_split = splits["train"]
    model = build_backbone(config.model, train_split.features["label"].names, train_split.column_names,
                           config.data.max_length)
    with accelerator.main_process_first():
        data = prepare_data(splits, model.preprocess, config.data, seed=train.seed, input_column=model.input_column,
                            every_label=needs.every_label,
                            preprocess_unlabelled=needs.unlabelled or model.fits_on_pool)
    model.fit_input(data.unlabelled)
    views = view_maker(config.views, model.collate, model.input_column, data.unlabelled.column_names)
    if needs.strong_view_required and not views.strong_available():
        raise TextsslError(f"algorithm {algorithm.name!r} compares a weak and a strong view of each unlabelled "
                           f"example: set views.augment (e.g. [backtranslation:backend=apertium] for text, "
                           f"[randaugment] for images) or views.column")

    task = SemiSupervisedTask(algorithm, model, data, views, train, accelerator)
    dev_loader, test_loader = accelerator.prepare(evaluation_loader(data.dev, model, train.eval_batch_size),
                                                  evaluation_loader(data.test, model, train.eval_batch_size))
    callbacks = [LogMetrics(train.log_every, train.progress_bar),
                 EvaluateAndKeepBest(train.eval_every, train.best_metric, dev_loader, task.num_classes,
                                     algorithm.evaluation_model),
                 SaveCheckpoint(train.save_every)]
    trainer = Trainer(model, task, train, config.output_dir, accelerator, callbacks)
    return Run(config, task, trainer, dev_loader, test_loader)


def evaluation_loader(dataset: Dataset, model: Classifier, batch_size: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size,
                      collate_fn=lambda rows: model.collate({key: [row[key] for row in rows] for key in rows[0]}))


def rounds(config: Config) -> list[Config]:
    """The runs `config` stands for: itself, or one per round of a method trained in rounds."""
    return algorithm_class(config.algorithm.name).runs(config)


def run(config: Config) -> dict[str, Any]:
    """Train (or resume) the run `config` describes (each round in turn); the last run's metrics,
    also written to its `metrics.json`."""
    for each in rounds(config):
        metrics = build_run(each).execute()
    return metrics


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
    return RunResult(run(config), rounds(config)[-1].output_dir)
