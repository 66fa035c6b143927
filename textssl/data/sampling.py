"""Which training examples keep their labels: per class or at random, seeded."""

from __future__ import annotations

import logging

import numpy as np

from textssl.errors import TextsslError

log = logging.getLogger(__name__)


def sample_labelled(labels: np.ndarray, names: list[str], *, per_class: int | None = None,
                    total: int | None = None, seed: int = 0, field: str = "data.labels_per_class",
                    where: str = "training pool") -> np.ndarray:
    """Sorted indices of the examples that keep their labels.

    `per_class` takes exactly that many of every class; `total` takes that many in all at random,
    as a user labels a random sample (the class counts vary around the pool's shares), except
    that a class the draw missed gets one example in place of one of the largest class's (a
    class without labels cannot be learnt; a warning says so). Neither: all of them.
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
    if counts.min() == 0:
        raise TextsslError(f"data.num_labels={total}: class {names[counts.argmin()]!r} has no example in the "
                           f"training pool")
    chosen = rng.choice(len(labels), size=total, replace=False)
    for missing in np.flatnonzero(np.bincount(labels[chosen], minlength=len(names)) == 0):
        drawn = np.bincount(labels[chosen], minlength=len(names))
        largest = drawn.argmax()
        replaced = rng.choice(np.flatnonzero(labels[chosen] == largest))
        chosen[replaced] = rng.choice(np.flatnonzero(labels == missing))
        log.warning("data.num_labels=%d: the random draw took no example of class %r (%d of %d in the training "
                    "pool); one of them replaces a %r label, since a class without labels cannot be learnt",
                    total, names[missing], counts[missing], len(labels), names[largest])
    return np.sort(chosen)
