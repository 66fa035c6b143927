"""Views: how the rows of a batch become the weak and strong inputs an algorithm asks for.

`ViewMaker` is the interface: `labelled(rows)` gives the labelled batch (its weak view),
`unlabelled(rows, weak=K, strong=S)` gives K weak and S strong views of each example. Every
view is a pure function of (row, pass over the data, copy), so a batch depends on its step
only and a resumed run reads the same batches.

- `TextViews`: the weak view is the text as it is. Strong views are computed once and
  stored: the training pool carries a `strong` column (one augmented text per row, or a
  list of them) from the data file or from the augment library (`augmented_views`, cached
  on disk); `encode_strong_views` stores each copy's model inputs under `strong_<input>`,
  and each pass over the data uses the next copies.
- `ImageViews`: `augment.image` ops applied at batch time, seeded by (row, pass, copy).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
from tqdm.auto import tqdm

from textssl.batch import Batch, Views
from textssl.config import ViewsConfig
from textssl.cache import cache_dir, own_temporary, remove_abandoned
from textssl.errors import TextsslError

log = logging.getLogger(__name__)

SOURCE_COLUMN = "strong"
PREFIX = "strong_"
CHUNK_ROWS = 10_000
CACHE_FORMAT = 2
"""The layout of a views cache folder; a folder of another format is rebuilt."""
HASH_ROWS = 50_000


def views_key(texts: Dataset, config: ViewsConfig) -> dict:
    """What a cache of computed views depends on: the texts, the ops, the copies, the seed,
    and the versions that wrote it."""
    import augment

    digest = hashlib.sha256()
    for rows in _batches(texts, HASH_ROWS):
        for text in rows:
            digest.update(text.encode() + b"\x00")
    return {"texts": digest.hexdigest(), "rows": len(texts), "augment": list(config.augment),
            "copies": config.copies, "seed": config.seed,
            "versions": {"augment": augment.__version__, "cache_format": CACHE_FORMAT}}


def augmented_views(texts: Dataset, config: ViewsConfig, chunk_rows: int = CHUNK_ROWS) -> Dataset:
    """A one-column dataset `strong` (K augmented texts per row), row for row with `texts`.

    Computed once with the augment library in chunks of `chunk_rows` texts, by
    `config.workers` processes, and stored under the cache folder, keyed by `views_key`.
    Each chunk is written whole or not at all, so a build that was killed resumes from the
    chunks it finished; a stored copy written by another version is rebuilt, never reused.
    """
    key = views_key(texts, config)
    named_by = {name: value for name, value in key.items() if name != "versions"}
    folder = cache_dir() / "views" / hashlib.sha256(json.dumps(named_by, sort_keys=True).encode()).hexdigest()[:24]
    stored = _read_key(folder)
    if stored != key:
        if stored is not None:
            log.warning("views: the cache %s was written by another version (%s; this is %s); rebuilding it",
                        folder, _versions(stored), _versions(key))
            shutil.rmtree(folder)
        _build(texts, config, key, folder, chunk_rows)
    return concatenate_datasets([Dataset.from_file(str(chunk)) for chunk in sorted(folder.glob("chunk-*.arrow"))])


def _versions(key: dict) -> str:
    versions = key.get("versions", {})
    return f"augment {versions.get('augment', '?')}, cache format {versions.get('cache_format', '?')}"


def _read_key(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "key.json").read_text())
    except (OSError, ValueError):
        return None


def _build(texts: Dataset, config: ViewsConfig, key: dict, folder: Path, chunk_rows: int) -> None:
    """Compute the chunks missing from `folder.partial`, then put the whole folder in place."""
    from augment.errors import AugmentError
    from augment.ops import build, needs_fit

    partial = folder.with_name(folder.name + ".partial")
    if _read_key(partial) != key:  # a build of other texts or by another version: start over
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "key.json").write_text(json.dumps(key, indent=2))
    remove_abandoned(partial, "chunk-*")  # chunks a killed build was writing
    starts = [start for start in range(0, len(texts), chunk_rows) if not _chunk_path(partial, start).is_file()]
    workers = min(config.workers or os.cpu_count() or 1, len(starts))
    try:
        augmenter = build(config.augment, seed=config.seed)
        if starts:
            for op in needs_fit(augmenter):  # corpus statistics (TF-IDF, vocabulary) from the training pool
                op.fit(text for rows in _batches(texts, HASH_ROWS) for text in rows)
        jobs = [(partial, start, chunk_rows, config.copies) for start in starts]
        with tqdm(total=len(texts), initial=len(texts) - sum(min(chunk_rows, len(texts) - s) for s in starts),
                  desc=f"augmenting ({', '.join(config.augment)}) with {workers} worker(s)", unit="text") as bar:
            if workers > 1:
                with _process_context().Pool(workers, _init_worker, (texts, augmenter)) as pool:
                    for rows in pool.imap_unordered(_write_chunk, jobs):
                        bar.update(rows)
            else:
                _init_worker(texts, augmenter)
                for job in jobs:
                    bar.update(_write_chunk(job))
    except AugmentError as error:
        raise TextsslError(f"views.augment: {error}") from None
    try:
        partial.rename(folder)
    except OSError:  # another process finished the same build first
        if _read_key(folder) != key:
            raise
        shutil.rmtree(partial, ignore_errors=True)


def _process_context() -> multiprocessing.context.BaseContext:
    # fork shares the texts and the fitted ops with the workers and, unlike spawn, does not
    # re-run a user's script that calls textssl.train() without a `__main__` guard
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def _batches(texts: Dataset, size: int) -> Iterator[list[str]]:
    for start in range(0, len(texts), size):
        yield texts[start:start + size]["text"]


def _chunk_path(folder: Path, start: int) -> Path:
    return folder / f"chunk-{start:012d}.arrow"


_worker: tuple[Dataset, Callable] | None = None


def _init_worker(texts: Dataset, augmenter: Callable) -> None:
    global _worker
    _worker = (texts, augmenter)


def _write_chunk(job: tuple[Path, int, int, int]) -> int:
    """Augment the rows of one chunk and write them as one Arrow file, renamed into place when whole."""
    folder, start, chunk_rows, copies = job
    texts, augmenter = _worker
    rows = texts[start:start + chunk_rows]["text"]
    table = pa.table({SOURCE_COLUMN: augmenter(rows, n=copies, ids=range(start, start + len(rows)))})
    target = _chunk_path(folder, start)
    written = own_temporary(target)
    with pa.OSFile(str(written), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(written, target)
    return len(rows)


def with_augmented_views(splits: DatasetDict, config: ViewsConfig) -> DatasetDict:
    """`splits` with a `strong` column added to train when the recipe asks for computed views."""
    if not config.augment or "text" not in splits["train"].column_names:
        return splits  # nothing to cache: no ops, or images (augmented at batch time)
    train = splits["train"]
    views = augmented_views(train.select_columns(["text"]), config)
    return DatasetDict({**splits, "train": concatenate_datasets([train, views], axis=1)})


def encode_strong_views(pool: Dataset, preprocess: Callable[[dict], dict], input_column: str) -> Dataset:
    """Add the preprocessed copies of the `strong` column and drop the column itself."""
    first = pool[0][SOURCE_COLUMN]
    copies = len(first) if isinstance(first, list) else 1

    def encode(rows: dict[str, list]) -> dict[str, list]:
        views = [view if isinstance(view, list) else [view] for view in rows[SOURCE_COLUMN]]
        for view in views:
            if len(view) != copies or not all(isinstance(text, str) and text.strip() for text in view):
                raise TextsslError(f"views.column: every row needs {copies} non-empty strong view(s); found {view!r}")
        encoded = [preprocess({input_column: [view[k] for view in views]}) for k in range(copies)]
        return {PREFIX + key: [[encoded[k][key][row] for k in range(copies)] for row in range(len(views))]
                for key in encoded[0]}

    return pool.map(encode, batched=True, remove_columns=[SOURCE_COLUMN], desc="preprocessing strong views")


class ViewMaker:
    """Turns the rows of a batch (model inputs, as stored) into views; `epochs` is the pass over
    the data each row is read in."""

    def __init__(self, collate: Callable[[dict[str, list]], Batch]):
        self.collate = collate

    def labelled(self, rows: dict[str, list], index: np.ndarray, epochs: np.ndarray) -> Batch:
        raise NotImplementedError

    def unlabelled(self, rows: dict[str, list], index: np.ndarray, epochs: np.ndarray, weak: int = 1,
                   strong: int = 0) -> Views:
        raise NotImplementedError

    def strong_available(self) -> bool:
        raise NotImplementedError


class TextViews(ViewMaker):
    def __init__(self, collate: Callable[[dict[str, list]], Batch], has_strong: bool):
        super().__init__(collate)
        self.has_strong = has_strong

    def strong_available(self) -> bool:
        return self.has_strong

    def labelled(self, rows, index, epochs):
        return self.collate({key: value for key, value in rows.items() if not key.startswith(PREFIX)})

    def unlabelled(self, rows, index, epochs, weak=1, strong=0):
        weak_batch = self.labelled(rows, index, epochs)
        strong_keys = [key for key in rows if key.startswith(PREFIX)]
        strong_batches = []
        for copy in range(strong if strong_keys else 0):
            chosen = {}
            for key in strong_keys:  # pass e, copy s reads stored copy (e * S + s) mod K
                chosen[key[len(PREFIX):]] = [copies[(epoch * strong + copy) % len(copies)]
                                             for copies, epoch in zip(rows[key], epochs)]
            strong_batches.append(self.collate(chosen))
        return Views([weak_batch] * weak, strong_batches, torch.as_tensor(index))


class ImageViews(ViewMaker):
    """Weak: the `weak` ops; strong: the `strong` ops on top of a fresh weak view. Labelled rows,
    unlabelled weak views and strong views draw from different seeds."""

    def __init__(self, collate: Callable[[dict[str, list]], Batch], weak: list[str], strong: list[str], seed: int):
        from augment.errors import AugmentError
        from augment.ops import build_image

        super().__init__(collate)
        try:
            self.weak_ops = [build_image(weak, seed=seed + offset) for offset in range(3)]
            self.strong_ops = build_image(strong, seed=seed + 3)
        except AugmentError as error:
            raise TextsslError(f"views: {error}") from None

    def strong_available(self) -> bool:
        return bool(self.strong_ops)

    @staticmethod
    def _apply(ops: list, pixels: torch.Tensor, ids: list[tuple[int, int]], copy: int) -> torch.Tensor:
        for op in ops:
            pixels = op(pixels, ids=ids, copy=copy)
        return pixels

    def _view(self, batch: Batch, ops: list, ids: list[tuple[int, int]], copy: int) -> Batch:
        return {**batch, "pixel_values": self._apply(ops, batch["pixel_values"], ids, copy)}

    def labelled(self, rows, index, epochs):
        batch = self.collate(rows)
        return self._view(batch, self.weak_ops[0], list(zip(index.tolist(), epochs.tolist())), 0)

    def unlabelled(self, rows, index, epochs, weak=1, strong=0):
        batch = self.collate(rows)
        ids = list(zip(index.tolist(), epochs.tolist()))
        weak_views = [self._view(batch, self.weak_ops[1], ids, copy) for copy in range(weak)]
        strong_views = [self._view(self._view(batch, self.weak_ops[2], ids, copy), self.strong_ops, ids, copy)
                        for copy in range(strong if self.strong_ops else 0)]
        return Views(weak_views, strong_views, torch.as_tensor(index))


def view_maker(config: ViewsConfig, collate: Callable[[dict[str, list]], Batch], input_column: str,
               pool_columns: list[str]) -> ViewMaker:
    """The views the recipe asks for: cached text views, or image views made at batch time."""
    if input_column == "image":
        if config.column is not None:
            raise TextsslError("views.column holds texts; image views come from views.weak and views.augment")
        return ImageViews(collate, config.weak, config.augment, config.seed)
    if config.weak:
        raise TextsslError("views.weak applies to images; the weak view of a text is the text as it is")
    return TextViews(collate, has_strong=any(column.startswith(PREFIX) for column in pool_columns))
