"""One file per algorithm; register a new one in ALGORITHMS below."""

from __future__ import annotations

from textssl.algorithms.base import Algorithm, StepOutput
from textssl.algorithms.fixmatch import FixMatch
from textssl.algorithms.fully_supervised import FullySupervised
from textssl.algorithms.mean_teacher import MeanTeacher
from textssl.algorithms.pseudo_label import PseudoLabel
from textssl.algorithms.supervised import Supervised
from textssl.algorithms.uda import UDA
from textssl.errors import TextsslError

ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (Supervised, FullySupervised, PseudoLabel, MeanTeacher, UDA, FixMatch)}

__all__ = ["ALGORITHMS", "Algorithm", "StepOutput", "algorithm_class"]


def algorithm_class(name: str) -> type[Algorithm]:
    if name not in ALGORITHMS:
        raise TextsslError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
