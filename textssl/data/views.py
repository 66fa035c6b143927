"""Views: how the rows of a batch become the weak and strong inputs an algorithm asks for.

`ViewMaker` is the interface: `labelled(rows)` gives the labelled batch (its weak view),
`unlabelled(rows, weak=K, strong=S)` gives K weak and S strong views of each example. Every
view is a pure function of (row, pass over the data, copy), so a batch depends on its step
only and a resumed run reads the same batches.

- `TextViews`: the weak view is the text as it is. Strong views are computed once and
  stored: the training pool carries a `strong` column (one augmented text per row, or a
  list of them) from the data file or from the augment library (`textssl.data.view_cache`);
  `encode_strong_views` stores each copy's model inputs under `strong_<input>`, and each
  pass over the data uses the next copies.
- `ImageViews`: `augment.image` ops applied at batch time, seeded by (row, pass, copy).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from datasets import Dataset

from textssl.batch import Batch, Views
from textssl.config import ViewsConfig
from textssl.data.view_cache import SOURCE_COLUMN
from textssl.errors import TextsslError

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
