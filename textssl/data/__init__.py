"""Data: sources and built-ins, label sampling, and the labelled / unlabelled streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from datasets import Dataset, DatasetDict, Features, concatenate_datasets

from textssl.batch import Batch, Views
from textssl.config import DataConfig
from textssl.data.builtin import BUILTIN_DATASETS
from textssl.data.sampling import sample_labelled
from textssl.data.sources import load_splits
from textssl.data.stream import BatchStream
from textssl.data.view_cache import SOURCE_COLUMN as STRONG_SOURCE
from textssl.data.views import PREFIX as STRONG_PREFIX
from textssl.data.views import ImageViews, TextViews, ViewMaker, encode_strong_views, view_maker
from textssl.errors import TextsslError
from textssl.prior import observed_shares

__all__ = ["BUILTIN_DATASETS", "Batch", "BatchStream", "ImageViews", "SSLData", "TextViews", "ViewMaker", "Views",
           "load_splits", "prepare_data", "sample_labelled", "view_maker"]


@dataclass
class SSLData:
    labelled: Dataset
    unlabelled: Dataset
    """Model inputs (and strong views, when the pool has them) only: never the labels."""
    dev: Dataset
    test: Dataset
    label_names: list[str]
    unlabelled_truth: np.ndarray
    """The hidden labels of `unlabelled`, row for row, for analysis only (never for training)."""
    unlabelled_inputs: Callable[[], Dataset] | None = None
    """The raw inputs of `unlabelled` (its text or image column), row for row, for a method that
    labels the pool with another model (a teacher of another kind); selected when asked for, as
    other methods never read them (7 MB and 0.15 s at a million texts)."""
    pool_prior: np.ndarray | None = None
    """The unlabelled pool's class shares when the recipe gives them (`data.class_prior`)."""
    random_counts: np.ndarray | None = None
    """The class counts of the labels drawn at random from the pool's distribution (all of dev
    unless `data.dev_per_class` draws it per class, and a `data.num_labels` draw), where the run
    decides with the pool's prior (`data.prior`); None otherwise, or without such labels."""

    @property
    def seen_prior(self) -> np.ndarray | None:
        """The pool's class shares as the labels drawn at random show them before training."""
        return None if self.random_counts is None else observed_shares(self.random_counts)


def prepare_data(splits: DatasetDict, preprocess: Callable[[dict], dict], config: DataConfig, *, seed: int,
                 input_column: str = "text", every_label: bool = False, preprocess_unlabelled: bool = True) -> SSLData:
    """Split the training pool into labelled and unlabelled sets as `config` asks (the labelled
    draw, the pool's prior) and preprocess every split.

    A `strong` column in the pool (see `textssl.data.views`) is preprocessed too and kept
    in the unlabelled set only. `every_label` keeps every training label (the fully
    supervised reference). When no example is left unlabelled, the whole pool (without
    labels) serves as the unlabelled set. Without `preprocess_unlabelled` (a method that reads
    no unlabelled example) only the labelled rows are preprocessed, and the unlabelled set
    keeps its rows but no column.
    """
    names = splits["train"].features["label"].names
    labels = np.asarray(splits["train"]["label"])
    class_prior = config.class_prior
    if class_prior and len(class_prior) != len(names):
        raise TextsslError(f"data.class_prior has {len(class_prior)} shares, but the data has {len(names)} classes "
                           f"({', '.join(names)})")
    if every_label:
        labelled_rows = unlabelled_rows = np.arange(len(labels))
    else:
        labelled_rows = sample_labelled(labels, names, per_class=config.labels_per_class, total=config.num_labels,
                                        seed=seed)
        unlabelled_rows = np.setdiff1d(np.arange(len(labels)), labelled_rows)
        if len(unlabelled_rows) == 0:
            unlabelled_rows = np.arange(len(labels))

    def encode(dataset: Dataset, split: str) -> Dataset:
        inputs = [column for column in dataset.column_names if column != "label"]
        return dataset.map(preprocess, batched=True, remove_columns=inputs, desc=f"preprocessing {split}")

    pool = raw = splits["train"]
    if preprocess_unlabelled:
        # Each input column is preprocessed on its own and the results are joined side by side:
        # a pass over the whole pool would also read, and at a million texts map into the
        # process, every column an earlier pass wrote (1.5 GB of them for FixMatch at 1M). The
        # labels are held in memory (8 MB at 1M), so the raw texts' file is not kept mapped.
        in_memory_labels = Dataset.from_dict({"label": labels}, features=Features({"label": pool.features["label"]}))
        parts = [in_memory_labels, encode(pool.select_columns([input_column]), "train")]
        if STRONG_SOURCE in pool.column_names:
            parts.append(encode_strong_views(pool.select_columns([STRONG_SOURCE]), preprocess, input_column))
        pool = concatenate_datasets(parts, axis=1)
        strong_columns = [column for column in pool.column_names if column.startswith(STRONG_PREFIX)]
        labelled = pool.select(labelled_rows).remove_columns(strong_columns)
        unlabelled = pool.select(unlabelled_rows).remove_columns("label")
    else:  # at a million texts, tokenising the pool costs minutes and 80 MB that would never be read
        labelled = encode(pool.select(labelled_rows), "labelled")
        unlabelled = pool.select(unlabelled_rows).select_columns([])
    dev = splits["dev"]
    if config.dev_per_class is not None:
        dev = dev.select(sample_labelled(np.asarray(dev["label"]), names, per_class=config.dev_per_class, seed=seed,
                                         field="data.dev_per_class", where="dev split"))
    random_counts = np.zeros(len(names))
    if config.decides_with_pool_prior(every_label):
        if config.dev_at_random:
            random_counts += np.bincount(dev["label"], minlength=len(names))
        if config.labels_at_random:
            random_counts += np.bincount(labels[labelled_rows], minlength=len(names))
    return SSLData(
        labelled=labelled,
        unlabelled=unlabelled,
        dev=encode(dev, "dev"),
        test=encode(splits["test"], "test"),
        label_names=names,
        unlabelled_truth=labels[unlabelled_rows],
        unlabelled_inputs=lambda: raw.select(unlabelled_rows).select_columns([input_column]),
        pool_prior=np.asarray(class_prior, dtype=np.float64) / sum(class_prior) if class_prior else None,
        random_counts=random_counts if random_counts.sum() else None,
    )
