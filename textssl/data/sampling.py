"""Which training examples keep their labels: stratified and seeded."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from textssl.errors import TextsslError


def sample_labelled(labels: np.ndarray, names: list[str], *, per_class: int | None = None,
                    total: int | None = None, seed: int = 0, field: str = "data.labels_per_class",
                    where: str = "training pool") -> np.ndarray:
    """Sorted indices of the examples that keep their labels.

    `per_class` takes exactly that many of every class; `total` takes that many in all, in
    proportion to the class frequencies; a draw that misses a class is an error. Neither: all of them.
    """
    if per_class is None and total is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    if per_class is not None:
        chosen = []
        for label, name in enumerate(names):
            members = np.flatnonzero(labels == label)
            if len(members) < per_class:
                raise TextsslError(f"{field}={per_class}, but class {name!r} has only "
                                   f"{len(members)} examples in the {where}")
            chosen.append(rng.choice(members, size=per_class, replace=False))
        return np.sort(np.concatenate(chosen))
    counts = np.bincount(labels, minlength=len(names))
    if not len(names) <= total <= len(labels):
        raise TextsslError(f"data.num_labels={total}, but it must lie between the number of classes "
                           f"({len(names)}) and the size of the training pool ({len(labels)})")
    if total == len(labels):
        return np.arange(len(labels))
    if counts.min() < 2:
        raise TextsslError(f"data.num_labels={total}: class {names[counts.argmin()]!r} has {counts.min()} "
                           f"example(s) in the training pool, and a stratified draw needs 2; "
                           f"use data.labels_per_class")
    chosen, _ = train_test_split(np.arange(len(labels)), train_size=total, stratify=labels,
                                 random_state=seed)
    drawn = np.bincount(labels[chosen], minlength=len(names))
    if drawn.min() == 0:
        rare = drawn.argmin()
        raise TextsslError(f"data.num_labels={total} draws no example of class {names[rare]!r} "
                           f"({counts[rare]} of {len(labels)} in the training pool); "
                           f"raise data.num_labels or use data.labels_per_class")
    return np.sort(chosen)
