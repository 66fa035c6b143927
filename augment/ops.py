"""Ops by name, for the command line and recipes: ``"tfidf"``, ``"backtranslation:backend=apertium"``;
image ops (``build_image``): ``"weak:flip=0"``, ``"randaugment:n=2,m=10"``, ``"cutout"``.

An op spec is ``NAME`` or ``NAME:key=value,key=value``; values are cast to the type of
the parameter's default. Each op's file registers its class with ``augment.registry.register_op``.

>>> from augment.ops import build
>>> build(["tfidf:p=0.5"], seed=3).describe()["p"]
0.5
>>> build(["swap", "delete:p=0.2"], seed=0).name
'sequential'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from augment.base import Augmenter, Sequential
from augment.errors import AugmentError
from augment.registry import ALIASES, IMAGE_OPS, OPS
from augment.text import TfIdfReplace, UniformReplace  # importing augment.text registers every text op

_NOT_ON_COMMAND_LINE = {"self", "seed", "stats", "vocabulary", "stopwords"}
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _image_ops() -> dict[str, Callable[..., Any]]:
    import augment.image  # noqa: F401  registers the image ops; imports torch, so only when asked for

    return IMAGE_OPS


def parameters(name: str, table: dict[str, Callable[..., Any]] | None = None) -> dict[str, Any]:
    """The settable parameters of op ``name`` (of ``table``, default the text ops) and their defaults."""
    signature = inspect.signature((table or OPS)[name].__init__)
    return {p.name: p.default for p in signature.parameters.values()
            if p.name not in _NOT_ON_COMMAND_LINE and p.kind is p.POSITIONAL_OR_KEYWORD}


def _cast(op: str, key: str, value: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return _BOOLEANS[value.lower()]
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            number = float(value)
            return int(number) if isinstance(default, int) and number.is_integer() else number
        return value
    except (KeyError, ValueError):
        kind = "true/false" if isinstance(default, bool) else "a number"
        raise AugmentError(f"op {op!r}: {key}={value!r} is not {kind}") from None


def parse(spec: str, table: dict[str, Callable[..., Any]] | None = None) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,..."`` → (canonical name, typed keyword arguments)."""
    table = table or OPS
    name, _, rest = spec.strip().partition(":")
    name = ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in table:
        raise AugmentError(f"unknown op {name!r}; choose from {', '.join(table)}")
    known = parameters(name, table)
    kwargs: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise AugmentError(f"op {name!r}: expected key=value, got {item!r}")
        if key not in known:
            raise AugmentError(f"op {name!r}: unknown parameter {key!r}; it takes {', '.join(known)}")
        kwargs[key] = _cast(name, key, value.strip(), known[key])
    return name, kwargs


def build(specs: Sequence[str], seed: int = 0, defaults: dict[str, Any] | None = None) -> Augmenter:
    """One augmenter for ``specs`` (several: applied in sequence); ``defaults`` (e.g. ``{"p": 0.3}``)
    fill parameters an op takes but its spec leaves out."""
    if not specs:
        raise AugmentError("no op given; use --op NAME (one of: " + ", ".join(OPS) + ")")
    augmenters = []
    for spec in specs:
        name, kwargs = parse(spec)
        for key, value in (defaults or {}).items():
            if key in parameters(name) and key not in kwargs and value is not None:
                kwargs[key] = value
        augmenters.append(OPS[name](**kwargs, seed=seed))
    if len(augmenters) == 1:
        return augmenters[0]
    return Sequential(*augmenters, seed=seed)


def build_image(specs: Sequence[str], seed: int = 0) -> list[Any]:
    """Image augmenters for ``specs``, to apply in turn (see ``augment.image``)."""
    table = _image_ops()
    built = []
    for spec in specs:
        name, kwargs = parse(spec, table)
        if "ops" in kwargs:  # randaugment's op list, as "ops=rotate+shear_x"
            kwargs["ops"] = kwargs["ops"].split("+")
        built.append(table[name](**kwargs, seed=seed))
    return built


def needs_fit(augmenter: Augmenter) -> list[Augmenter]:
    """The corpus-statistics ops inside ``augmenter`` (TF-IDF, uniform) that are not fitted yet."""
    children = getattr(augmenter, "augmenters", [augmenter])
    return [a for a in children if (isinstance(a, TfIdfReplace) and a.stats is None)
            or (isinstance(a, UniformReplace) and a.vocabulary is None)]
