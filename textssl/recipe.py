"""Recipes: YAML files (with `extends`) and `section.key=value` overrides, read into a `Config`.

Every key is checked against the dataclasses of `textssl.config`; the `algorithm` section is
checked against the options dataclass of the algorithm it names (found in the registry).
Unknown keys and values of the wrong type are errors that name the file and the key.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from textssl.algorithms import algorithm_class
from textssl.config import AlgorithmConfig, Config, PretrainRunConfig
from textssl.errors import TextsslError

T = TypeVar("T")


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 also reads yes/no/on/off as booleans,
    which would turn `mixed_precision: no` into false; bool fields still accept those words."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_YamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def _parse_overrides(overrides: list[str] | tuple[str, ...]) -> DictConfig:
    bad = [item for item in overrides if "=" not in item or "." not in item.split("=", 1)[0]]
    if bad:
        raise TextsslError(f"overrides look like section.key=value (e.g. train.max_steps=100), got {bad[0]!r}")
    parsed = OmegaConf.create()
    for item in overrides:
        key, value = item.split("=", 1)
        try:
            OmegaConf.update(parsed, key, yaml.load(value, Loader=_YamlLoader), merge=True)
        except yaml.YAMLError as error:
            reason = getattr(error, "problem", error)
            raise TextsslError(f"override {item!r}: the value is not valid YAML ({reason})") from None
    return parsed


def _read_recipe(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, DictConfig]]:
    """The recipe and the recipes it extends, base first, each with its file name."""
    path = path.resolve()
    if path in seen:
        raise TextsslError(f"{path.name}: `extends` forms a cycle: {' -> '.join(p.name for p in (*seen, path))}")
    if not path.is_file():
        raise TextsslError(f"recipe not found: {path}")
    try:
        raw = yaml.load(path.read_text(), Loader=_YamlLoader) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise TextsslError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(raw, dict):
        raise TextsslError(f"{path}: a recipe is a mapping of sections, got {type(raw).__name__}")
    layers = []
    parent = raw.pop("extends", None)
    if parent is not None:
        layers = _read_recipe(path.parent / parent, (*seen, path))
    return [*layers, (str(path), OmegaConf.create(raw))]


def load_config(recipe: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                sections: dict[str, dict] | None = None) -> Config:
    """Build a Config from a recipe (or the defaults), `section.key=value` overrides, and
    `sections` ({"train": {"max_steps": 100}}, from Python), later ones winning."""
    layers = _layers(recipe, overrides, sections)
    merged = OmegaConf.merge(*(layer for _, layer in layers))
    algorithm_name = OmegaConf.select(merged, "algorithm.name", default=AlgorithmConfig.name)
    options_class = algorithm_class(str(algorithm_name)).Config
    _check_algorithm_options(options_class, layers)
    return _resolve(Config(algorithm=options_class()), layers)


def _check_algorithm_options(options: type[AlgorithmConfig], layers: list[tuple[str, DictConfig]]) -> None:
    """One error naming every option the chosen method does not take and where each was set:
    a method switched by an override meets the options its recipe set for another."""
    known = {field.name for field in dataclasses.fields(options)}
    places = []
    for source, layer in layers:
        section = layer.get("algorithm")
        foreign = [str(key) for key in section if key not in known] if isinstance(section, DictConfig) else []
        if foreign:
            lines = _key_lines(source, "algorithm")
            keys = ", ".join(f"{key} (line {lines[key]})" if key in lines else key for key in foreign)
            places.append(f"{keys} in {_shown(source)}")
    if places:
        raise TextsslError(f"the method {options.name} does not take the option(s) algorithm.{'; '.join(places)}; "
                           f"remove them, or choose a method that takes them")


def _key_lines(source: str, section: str) -> dict[str, int]:
    """The line of each key of `section` in the recipe file `source` (none for the overrides)."""
    path = Path(source)
    root = yaml.compose(path.read_text(), Loader=_YamlLoader) if path.is_file() else None
    for name, value in root.value if isinstance(root, yaml.MappingNode) else []:
        if name.value == section and isinstance(value, yaml.MappingNode):
            return {key.value: key.start_mark.line + 1 for key, _ in value.value}
    return {}


def _shown(source: str) -> str:
    """A recipe file relative to the working folder when it lies below it."""
    path = Path(source)
    return str(path.relative_to(Path.cwd())) if path.is_absolute() and path.is_relative_to(Path.cwd()) else source


def load_pretrain_config(recipe: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                         sections: dict[str, dict] | None = None) -> PretrainRunConfig:
    """The same for a pretraining recipe (`textssl pretrain`)."""
    return _resolve(PretrainRunConfig(), _layers(recipe, overrides, sections))


def _layers(recipe: str | Path | None, overrides: list[str] | tuple[str, ...],
            sections: dict[str, dict] | None) -> list[tuple[str, DictConfig]]:
    layers = _read_recipe(Path(recipe)) if recipe is not None else []
    layers.append(("command-line overrides", _parse_overrides(overrides)))
    if sections:
        layers.append(("keyword overrides", OmegaConf.create(sections)))
    return layers


def _resolve(defaults: T, layers: list[tuple[str, DictConfig]]) -> T:
    schema = OmegaConf.structured(defaults)
    for source, layer in layers:  # check layer by layer so that an error names its file
        interpolated = _interpolated_key(OmegaConf.to_container(layer, resolve=False))
        if interpolated:
            raise TextsslError(f"{source}: `{interpolated}` holds a ${{...}} interpolation; recipes take plain values "
                               f"(${{oc.env:...}} would copy an environment variable, such as a token, into config.yaml)")
        try:
            OmegaConf.merge(schema, layer)
        except OmegaConfBaseException as error:
            key = getattr(error, "full_key", None) or "?"
            reason = str(error).splitlines()[0]
            raise TextsslError(f"{source}: bad key or value at `{key}`: {reason}") from None
    return OmegaConf.to_object(OmegaConf.merge(schema, *(layer for _, layer in layers)))


def _interpolated_key(node: Any, key: str = "") -> str | None:
    """The first key whose value holds a `${...}` interpolation, which OmegaConf would resolve."""
    if isinstance(node, str):
        return key if "${" in node else None
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    return next((found for name, value in items
                 if (found := _interpolated_key(value, f"{key}.{name}" if key else str(name)))), None)
