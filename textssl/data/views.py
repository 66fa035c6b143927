"""Strong views of the unlabelled examples, stored as model inputs next to the weak view.

The training pool carries a `strong` column: one augmented text per row, or a list of K
of them, taken from a column of the data file or computed by the augment library
(`augmented_views`, cached on disk). `encode_strong_views` runs the model's preprocessing
on every copy and stores the result under `strong_<input>` as K sequences per row;
`split_views` chooses which copy a batch uses (the next one on each pass over the data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
from tqdm.auto import tqdm

from textssl.config import ViewsConfig
from textssl.data.builtin import cache_dir, write_cache_folder
from textssl.errors import TextsslError

SOURCE_COLUMN = "strong"
PREFIX = "strong_"
CHUNK = 2_000


def views_key(texts: Dataset, config: ViewsConfig) -> dict:
    """What a cache of computed views depends on: the texts, the ops, the copies, the seed."""
    import augment

    digest = hashlib.sha256()
    for start in range(0, len(texts), 50_000):
        for text in texts[start:start + 50_000]["text"]:
            digest.update(text.encode() + b"\x00")
    return {"texts": digest.hexdigest(), "rows": len(texts), "augment": list(config.augment),
            "copies": config.copies, "seed": config.seed, "augment_version": augment.__version__}


def augmented_views(texts: Dataset, config: ViewsConfig) -> Dataset:
    """A one-column dataset `strong` (K augmented texts per row), row for row with `texts`.

    Computed once with the augment library and stored under the cache folder, keyed by
    `views_key`; a stored copy whose key differs is rebuilt, never reused.
    """
    key = views_key(texts, config)
    folder = cache_dir() / "views" / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    key_file = folder / "key.json"
    if key_file.is_file() and json.loads(key_file.read_text()) == key:
        return load_from_disk(str(folder / "data"))
    views = Dataset.from_dict({SOURCE_COLUMN: _compute(texts, config)})

    def write(partial: Path) -> None:
        views.save_to_disk(str(partial / "data"))
        (partial / "key.json").write_text(json.dumps(key, indent=2))

    write_cache_folder(folder, write)
    return load_from_disk(str(folder / "data"))


def with_augmented_views(splits: DatasetDict, config: ViewsConfig) -> DatasetDict:
    """`splits` with a `strong` column added to train when the recipe asks for computed views."""
    if not config.augment:
        return splits
    if "text" not in splits["train"].column_names:
        raise TextsslError("views.augment augments texts; this dataset has no text column")
    train = splits["train"]
    views = augmented_views(train.select_columns(["text"]), config)
    return DatasetDict({**splits, "train": concatenate_datasets([train, views], axis=1)})


def _compute(texts: Dataset, config: ViewsConfig) -> list[list[str]]:
    from augment.errors import AugmentError
    from augment.ops import build, needs_fit

    try:
        augmenter = build(config.augment, seed=config.seed)
        for op in needs_fit(augmenter):  # corpus statistics (TF-IDF, vocabulary) from the training pool
            op.fit(texts["text"])
        views: list[list[str]] = []
        with tqdm(total=len(texts), desc=f"augmenting ({', '.join(config.augment)})", unit="text") as bar:
            for start in range(0, len(texts), CHUNK):
                chunk = texts[start:start + CHUNK]["text"]
                views.extend(augmenter(chunk, n=config.copies, ids=range(start, start + len(chunk))))
                bar.update(len(chunk))
    except AugmentError as error:
        raise TextsslError(f"views.augment: {error}") from None
    return views


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


def split_views(rows: dict[str, list], epochs: np.ndarray) -> tuple[dict[str, list], dict[str, list] | None]:
    """Rows of model inputs -> (weak rows, strong rows); strong copy k = epoch mod K."""
    weak = {key: value for key, value in rows.items() if not key.startswith(PREFIX)}
    strong_keys = [key for key in rows if key.startswith(PREFIX)]
    if not strong_keys:
        return weak, None
    strong = {}
    for key in strong_keys:
        strong[key[len(PREFIX):]] = [copies[epoch % len(copies)] for copies, epoch in zip(rows[key], epochs)]
    return weak, strong
