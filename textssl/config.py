"""Run configuration: typed dataclasses, filled from YAML recipes and `key=value` overrides.

A recipe is a YAML file with up to five sections (`data`, `model`, `train`, `views`,
`algorithm`) and an optional `extends: other.yaml` (a path relative to the recipe) whose
values it overrides. Every key is checked against the dataclasses below; the `algorithm`
section is checked against the options of the algorithm it names. Unknown keys and values
of the wrong type are errors that name the file and the key.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from textssl.errors import TextsslError


@dataclass
class DataConfig:
    dataset: str = "rotten_tomatoes"
    """Built-in name (`textssl list`), a local CSV/JSON/JSONL/Parquet file, or a Hub dataset."""
    dataset_config: str | None = None
    """Hub dataset configuration name, if the dataset has several."""
    dev_file: str | None = None
    test_file: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    labels_per_class: int | None = 10
    """Labelled examples drawn per class from the training pool (stratified, seeded)."""
    num_labels: int | None = None
    """Alternatively, the total number of labelled examples (stratified)."""
    max_length: int = 64
    dev_fraction: float = 0.1
    """Share of a source without a dev split that is held out as dev (stratified, seed 0)."""
    test_fraction: float = 0.2
    """Share of a source without a test split that is held out as test (stratified, seed 0)."""

    def __post_init__(self) -> None:
        if self.labels_per_class is not None and self.num_labels is not None:
            raise TextsslError("data: set either `labels_per_class` or `num_labels`, not both")
        for name in ("labels_per_class", "num_labels", "max_length"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TextsslError(f"data.{name} must be at least 1, got {value}")


@dataclass
class ViewsConfig:
    """Where the strong views of unlabelled examples come from; the weak view is the input as it is.

    Only algorithms that compare two views (UDA, FixMatch) read them. Set one source.
    """

    column: str | None = None
    """A column of the training file holding an augmented version of each text: a string,
    or a list of strings for several copies (each epoch over the unlabelled set uses the next)."""
    augment: list[str] = field(default_factory=list)
    """Or ops of the augment library applied in turn, e.g. ["backtranslation:backend=apertium"]
    or ["tfidf:p=0.7"]. Computed once and cached on disk (see `textssl.data.views`)."""
    copies: int = 1
    """Strong views computed per text with `augment`."""
    seed: int = 0
    """Seed of the augmentation; kept apart from train.seed so runs over seeds share one cache."""

    def __post_init__(self) -> None:
        if self.column is not None and not self.column.strip():
            raise TextsslError("views.column must name a column of the training file")
        if self.column is not None and self.augment:
            raise TextsslError("views: set either `column` or `augment`, not both")
        if self.copies < 1:
            raise TextsslError(f"views.copies must be at least 1, got {self.copies}")


@dataclass
class ModelConfig:
    name: str = "minilm-l6"
    """Built-in name (`textssl list`), a Hugging Face Hub id, or a local model folder."""


@dataclass
class TrainConfig:
    seed: int = 0
    output_dir: str | None = None
    """Run folder; default `runs/<algorithm>-<dataset>-<labels>-seed<seed>`."""
    max_steps: int = 60
    batch_size: int = 16
    """Labelled examples per step and process."""
    uratio: int = 1
    """Unlabelled examples per labelled example in a step."""
    eval_batch_size: int = 128
    learning_rate: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    lr_schedule: str = "linear"
    """linear | cosine | constant (after warmup)."""
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"
    """no | bf16 | fp16 (fp16 needs a GPU)."""
    eval_every: int = 20
    best_metric: str = "accuracy"
    """Dev metric that picks the checkpoint evaluated on test: accuracy | macro_f1."""
    save_every: int = 20
    log_every: int = 10
    resume: bool = True
    """Continue from the run folder's last checkpoint when there is one."""
    progress_bar: bool = True

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "uratio", "eval_batch_size",
                     "gradient_accumulation_steps", "eval_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise TextsslError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.lr_schedule not in ("linear", "cosine", "constant"):
            raise TextsslError(f"train.lr_schedule must be linear, cosine or constant, got {self.lr_schedule!r}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise TextsslError(f"train.mixed_precision must be no, bf16 or fp16, got {self.mixed_precision!r}")
        if self.best_metric not in ("accuracy", "macro_f1"):
            raise TextsslError(f"train.best_metric must be accuracy or macro_f1, got {self.best_metric!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise TextsslError(f"train.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


@dataclass
class AlgorithmConfig:
    """Base of every algorithm's options; each algorithm file subclasses it."""

    name: str = "supervised"
    ema_decay: float = 0.0
    """Above 0: keep an EMA of the weights with this decay; it is the model evaluated and
    saved, and the teacher whose predictions semi-supervised methods train towards."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema_decay < 1.0:
            raise TextsslError(f"algorithm.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)

    @property
    def output_dir(self) -> Path:
        if self.train.output_dir:
            return Path(self.train.output_dir)
        labels = (f"{self.data.labels_per_class}pc" if self.data.labels_per_class is not None
                  else f"{self.data.num_labels}n" if self.data.num_labels is not None else "all")
        dataset = Path(self.data.dataset).stem.replace("/", "_")
        return Path("runs") / f"{self.algorithm.name}-{dataset}-{labels}-seed{self.train.seed}"

    def to_yaml(self) -> str:
        return OmegaConf.to_yaml(OmegaConf.structured(self))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
        raise TextsslError(f"{path.name}: `extends` forms a cycle through {' -> '.join(p.name for p in seen)}")
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


def load_config(recipe: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Build a Config from a recipe (or the defaults) and `section.key=value` overrides."""
    from textssl.algorithms import algorithm_class

    layers = _read_recipe(Path(recipe)) if recipe is not None else []
    layers.append(("command-line overrides", _parse_overrides(overrides)))

    merged = OmegaConf.merge(*(layer for _, layer in layers)) if layers else OmegaConf.create()
    algorithm_name = OmegaConf.select(merged, "algorithm.name", default=AlgorithmConfig.name)
    options_class = algorithm_class(str(algorithm_name)).Config

    schema = OmegaConf.structured(Config(algorithm=options_class()))
    for source, layer in layers:  # check layer by layer so that an error names its file
        try:
            OmegaConf.merge(schema, layer)
        except OmegaConfBaseException as error:
            key = getattr(error, "full_key", None) or "?"
            reason = str(error).splitlines()[0]
            raise TextsslError(f"{source}: bad key or value at `{key}`: {reason}") from None
    return OmegaConf.to_object(OmegaConf.merge(schema, *(layer for _, layer in layers)))
