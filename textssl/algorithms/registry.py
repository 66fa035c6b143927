"""The algorithm registry: each algorithm file registers its class with `@register`."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from textssl.errors import TextsslError

if TYPE_CHECKING:
    from textssl.algorithms.base import Algorithm

ALGORITHMS: dict[str, type[Algorithm]] = {}
A = TypeVar("A", bound="type[Algorithm]")


def register(cls: A) -> A:
    """Class decorator: make the algorithm available in recipes by its name, the default of its
    options' `name` field (stated once, where recipes read it)."""
    name = cls.Config.name
    if name in ALGORITHMS and ALGORITHMS[name] is not cls:
        raise ValueError(f"two algorithms are named {name!r} (does {cls.__name__} lack a Config of its own?)")
    cls.name = name
    ALGORITHMS[name] = cls
    return cls


def algorithm_class(name: str) -> type[Algorithm]:
    if name not in ALGORITHMS:
        raise TextsslError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
