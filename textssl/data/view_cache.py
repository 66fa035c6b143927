"""The strong views of a text pool, computed once with the augment library and cached on disk.

`augmented_views` builds them in chunks of texts, by several worker processes; each chunk is
written whole or not at all, so a killed build resumes from the chunks it finished, and the
cache folder is keyed by the texts, the ops, the copies and the seed. `with_augmented_views`
adds them to the training split as its `strong` column, which `textssl.data.views` reads.
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

import pyarrow as pa
from datasets import Dataset, DatasetDict, concatenate_datasets
from tqdm.auto import tqdm

from textssl.atomic import remove_abandoned, written_whole
from textssl.cache import cache_dir
from textssl.config import ViewsConfig
from textssl.data.sources import digest_column
from textssl.errors import TextsslError

log = logging.getLogger(__name__)

SOURCE_COLUMN = "strong"
CHUNK_ROWS = 10_000
CACHE_FORMAT = 2
"""The layout of a views cache folder; a folder of another format is rebuilt."""
HASH_ROWS = 50_000


def views_key(texts: Dataset, config: ViewsConfig) -> dict:
    """What a cache of computed views depends on: the texts, the ops, the copies, the seed,
    and the versions that wrote it."""
    import augment

    digest = hashlib.sha256()
    digest_column(digest, texts, "text", HASH_ROWS)
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
    with written_whole(_chunk_path(folder, start)) as temporary, pa.OSFile(str(temporary), "wb") as sink, \
            pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return len(rows)


def with_augmented_views(splits: DatasetDict, config: ViewsConfig) -> DatasetDict:
    """`splits` with a `strong` column added to train when the recipe asks for computed views."""
    if not config.augment or "text" not in splits["train"].column_names:
        return splits  # nothing to cache: no ops, or images (augmented at batch time)
    train = splits["train"]
    views = augmented_views(train.select_columns(["text"]), config)
    return DatasetDict({**splits, "train": concatenate_datasets([train, views], axis=1)})
