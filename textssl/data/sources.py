"""Load a labelled dataset as train / dev / test splits with columns (`text` or `image`, `label`).

Sources: a built-in name, local CSV / JSON / JSONL / Parquet files, or a Hub dataset name
through `datasets.load_dataset`. Everything stays an Arrow-backed, memory-mapped dataset;
checks run in batches so a pool of millions of rows never has to fit in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, load_dataset
from sklearn.model_selection import train_test_split

from textssl.config import DataConfig
from textssl.data.builtin import BUILTIN_DATASETS, SPLIT_SEED, load_builtin
from textssl.errors import TextsslError

FILE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
TEXT_FORMATS = ("csv", "json")
DEV_SPLIT_NAMES = ("dev", "validation", "valid", "val")
CHECK_BATCH = 10_000
READ_CHUNK = 1 << 20


def digest_column(digest, dataset: Dataset, column: str, batch_rows: int = 50_000) -> None:
    """Feed every value of `column` to `digest` (a hashlib object), read in batches: a text
    as its UTF-8 bytes and a zero byte, an image as its array's bytes."""
    for start in range(0, len(dataset), batch_rows):
        for value in dataset[start:start + batch_rows][column]:
            digest.update(value.encode() + b"\x00" if isinstance(value, str) else np.asarray(value).tobytes())


def load_splits(config: DataConfig, view_column: str | None = None) -> DatasetDict:
    """train / dev / test with a `text` (or `image`) column and a ClassLabel `label` column.

    `view_column` names a column of the training data holding strong views of each text;
    it is kept in train as `strong`.
    """
    if config.dataset in BUILTIN_DATASETS:
        if view_column is not None:
            raise TextsslError(f"views.column={view_column!r}: the built-in dataset {config.dataset!r} has no such "
                               f"column; use a data file that has one")
        return load_builtin(config.dataset)
    if Path(config.dataset).suffix.lower() in FILE_FORMATS or Path(config.dataset).exists():
        splits, where = _load_files(config), config.dataset
    else:
        splits, where = _load_hub(config), f"hub dataset {config.dataset!r}"
    splits = _select_columns(splits, config, where, view_column)
    splits = _complete_splits(_encode_labels(splits, where), config)
    # Converting a file to Arrow leaves Arrow's memory pool holding what it no longer uses
    # (85 MB for a million texts), which the process would otherwise keep for the whole run.
    pa.default_memory_pool().release_unused()
    return splits


def _load_files(config: DataConfig) -> DatasetDict:
    files = {"train": config.dataset, "dev": config.dev_file, "test": config.test_file}
    splits = {}
    for split, name in files.items():
        if name is None:
            continue
        path = Path(name)
        file_format = FILE_FORMATS.get(path.suffix.lower())
        if file_format is None:
            raise TextsslError(f"{path}: unsupported file type {path.suffix!r}; "
                               f"use one of {', '.join(FILE_FORMATS)} or a built-in: {', '.join(BUILTIN_DATASETS)}")
        if not path.is_file():
            raise TextsslError(f"data file not found: {path}")
        if path.stat().st_size == 0:
            raise TextsslError(f"{path}: the file is empty")
        if file_format in TEXT_FORMATS:
            check_utf8(path)
        try:
            dataset = load_dataset(file_format, data_files=str(path), split="train")
        except Exception as error:  # datasets raises many types for malformed files
            raise TextsslError(f"{path}: could not be read as {file_format}: {str(error).splitlines()[0]}") from None
        if len(dataset) == 0:
            raise TextsslError(f"{path}: the file has no rows")
        splits[split] = dataset
    return DatasetDict(splits)


def check_utf8(path: Path) -> None:
    """A text file must be UTF-8: `datasets` reads other bytes into its string columns (JSON)
    or fails without saying where (CSV). Read in chunks that end at a line's end."""
    lines_before = 0
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK) + handle.readline():
            decode_utf8(chunk, str(path), lines_before)
            lines_before += chunk.count(b"\n")


def decode_utf8(data: bytes, source: str, lines_before: int = 0) -> str:
    """`data` as text, or one error naming `source`, the first bad byte and its line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = lines_before + data.count(b"\n", 0, error.start) + 1
        raise TextsslError(f"{source}: not UTF-8 text (byte 0x{data[error.start]:02x} at line {line}); "
                           f"save it as UTF-8") from None


def _load_hub(config: DataConfig) -> DatasetDict:
    try:
        loaded = load_dataset(config.dataset, config.dataset_config)
    except Exception as error:  # offline, unknown name, missing config...
        raise TextsslError(
            f"could not load dataset {config.dataset!r}: it is not a built-in "
            f"({', '.join(BUILTIN_DATASETS)}), not a local file, and loading it from the Hub failed: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    splits = {"train": loaded["train"]} if "train" in loaded else {}
    if not splits:
        raise TextsslError(f"hub dataset {config.dataset!r} has no `train` split (it has {', '.join(loaded)})")
    dev = next((name for name in DEV_SPLIT_NAMES if name in loaded), None)
    if dev:
        splits["dev"] = loaded[dev]
    if "test" in loaded:
        splits["test"] = loaded["test"]
    return DatasetDict(splits)


def _select_columns(splits: DatasetDict, config: DataConfig, where: str, view_column: str | None) -> DatasetDict:
    selected = {}
    for split, dataset in splits.items():
        source = {"train": where, "dev": config.dev_file, "test": config.test_file}.get(split) or f"{where} [{split}]"
        columns = {config.text_column: "text", config.label_column: "label"}
        if view_column is not None and split == "train":
            columns[view_column] = "strong"
        for column in columns:
            if column not in dataset.column_names:
                setting = "views.column" if columns[column] == "strong" else "data.text_column / data.label_column"
                raise TextsslError(f"{source}: no column {column!r} (columns: {', '.join(dataset.column_names)}); "
                                   f"set {setting}")
        dataset = dataset.select_columns(list(columns)).rename_columns({k: v for k, v in columns.items() if k != v})
        _check_texts(dataset, source)
        selected[split] = dataset
    return DatasetDict(selected)


def _check_texts(dataset: Dataset, source: str) -> None:
    for start in range(0, len(dataset), CHECK_BATCH):
        rows = dataset[start:start + CHECK_BATCH]
        for offset, (text, label) in enumerate(zip(rows["text"], rows["label"])):
            if label is None or (isinstance(label, str) and not label.strip()):
                raise TextsslError(f"{source}: row {start + offset + 1} has no label "
                                   f"(rows are counted from 1, without the header)")
            if not isinstance(text, str) or not text.strip():
                raise TextsslError(f"{source}: row {start + offset + 1} has an empty text "
                                   f"(rows are counted from 1, without the header)")


def _encode_labels(splits: DatasetDict, where: str) -> DatasetDict:
    """The training labels define the label set; dev and test labels must belong to it."""
    train_feature = splits["train"].features["label"]
    if isinstance(train_feature, ClassLabel):
        names = train_feature.names
    else:
        names = sorted({str(label) for label in splits["train"].unique("label")}, key=_natural_key)
    label_set = set(names)
    encoded = {}
    for split, dataset in splits.items():
        feature = dataset.features["label"]
        if isinstance(feature, ClassLabel):
            if feature.names != names:
                raise TextsslError(f"{where} [{split}]: label names {feature.names} differ from train's {names}")
            encoded[split] = dataset
            continue
        unknown = sorted({str(label) for label in dataset.unique("label")} - label_set)
        if unknown:
            raise TextsslError(f"{where} [{split}]: labels outside the label set {names}: {unknown[:10]}")
        if len(names) < 2:
            raise TextsslError(f"{where}: a classifier needs at least two labels, found {names}")
        encoded[split] = (dataset.map(lambda rows: {"label": [names.index(str(x)) for x in rows["label"]]},
                                      batched=True, desc=f"encoding {split} labels")
                          .cast_column("label", ClassLabel(names=names)))
    return DatasetDict(encoded)


def _natural_key(label: str) -> tuple:
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def _complete_splits(splits: DatasetDict, config: DataConfig) -> DatasetDict:
    """Hold out test, then dev, from train when the source has none (stratified, seed 0)."""
    splits = dict(splits)
    for split, fraction in (("test", config.test_fraction), ("dev", config.dev_fraction)):
        if split in splits:
            continue
        labels = np.asarray(splits["train"]["label"])
        try:
            keep, held = train_test_split(np.arange(len(labels)), test_size=fraction,
                                          stratify=labels, random_state=SPLIT_SEED)
        except ValueError as error:
            raise TextsslError(f"{config.dataset}: cannot hold out a stratified {split} split "
                               f"of {fraction:.0%}: {error}") from None
        splits[split] = splits["train"].select(np.sort(held))
        splits["train"] = splits["train"].select(np.sort(keep))
    return DatasetDict(splits)
