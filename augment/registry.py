"""The op tables: each op's file registers its class with ``@register_op``, so a new op is one file.

A module of its own, so that op modules can import it without importing ``augment.ops``
(which imports them). Text ops register when ``augment.text`` is imported; image ops when
``augment.image`` is, which imports torch, so ``augment.ops`` imports it only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

Op = TypeVar("Op", bound=Callable[..., Any])

OPS: dict[str, Callable[..., Any]] = {}  # text ops, in the order they registered
IMAGE_OPS: dict[str, Callable[..., Any]] = {}
ALIASES: dict[str, str] = {}  # shared by both tables, as op specs are parsed alike


def register_op(name: str, aliases: tuple[str, ...] = (),
                kind: Literal["text", "image"] = "text") -> Callable[[Op], Op]:
    """Class decorator: make the op buildable by ``name`` (or an alias) in op specs.
    A name or alias already taken raises, rather than one op silently shadowing another."""
    if kind not in ("text", "image"):
        raise ValueError(f"op {name!r}: kind must be 'text' or 'image', got {kind!r}")
    table = OPS if kind == "text" else IMAGE_OPS

    def register(op: Op) -> Op:
        for key in (name, *aliases):
            if key in table or key in ALIASES:
                raise ValueError(f"op name {key!r} is already taken")
        table[name] = op
        ALIASES.update(dict.fromkeys(aliases, name))
        return op

    return register
