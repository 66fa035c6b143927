"""Strong views of the unlabelled examples, stored as model inputs next to the weak view.

The training pool may carry a `strong` column: one augmented text per row, or a list of K
of them. `encode_strong_views` runs the model's preprocessing on every copy and stores the
result under `strong_<input>` as K sequences per row; `pick_copies` chooses which copy a
batch uses (the next one on each pass over the unlabelled set).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from datasets import Dataset

from textssl.errors import TextsslError

SOURCE_COLUMN = "strong"
PREFIX = "strong_"


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
