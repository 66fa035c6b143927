"""The algorithm registry: each algorithm file registers its class with `@register`."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from textssl.errors import TextsslError

if TYPE_CHECKING:
    from textssl.algorithms.base import Algorithm

ALGORITHMS: dict[str, type[Algorithm]] = {}
A = TypeVar("A", bound="type[Algorithm]")


def register(cls: A) -> A:
    """Class decorator: make the algorithm available by its `name` in recipes."""
    if cls.name in ALGORITHMS and ALGORITHMS[cls.name] is not cls:
        raise ValueError(f"two algorithms are named {cls.name!r}")
    ALGORITHMS[cls.name] = cls
    return cls


def algorithm_class(name: str) -> type[Algorithm]:
    if name not in ALGORITHMS:
        raise TextsslError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
