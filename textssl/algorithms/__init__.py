"""One file per algorithm over shared pieces; a file registers its class with `@register`.

Importing this package imports every module in it, so a new algorithm file is found
without a hand-kept list.
"""

from __future__ import annotations

import importlib
import pkgutil

from textssl.algorithms.base import Algorithm, Needs, RunContext, SemiSupervised, StepOutput
from textssl.algorithms.registry import ALGORITHMS, algorithm_class, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ALGORITHMS", "Algorithm", "Needs", "RunContext", "SemiSupervised", "StepOutput", "algorithm_class", "register"]
