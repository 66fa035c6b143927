"""Run configuration: one typed dataclass per recipe section.

A recipe (`textssl.recipe`) has up to five sections: `data`, `model`, `train`, `views` and
`algorithm`. Each algorithm's options subclass `AlgorithmConfig` in the algorithm's own file.
This module imports nothing else of textssl, so every layer can depend on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from omegaconf import OmegaConf

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
    """Alternatively, the total number of labelled examples, drawn at random (seeded): the draw
    has the pool's class shares, up to chance (a class it misses takes one label from the largest)."""
    class_prior: list[float] = field(default_factory=list)
    """The unlabelled pool's class shares when known (e.g. [0.42, 0.58]), in label order, for
    `algorithm.alignment_prior=pool` and `prior`; empty: unknown (estimated where asked)."""
    prior: str = "auto"
    """The prior the trained model decides with (`textssl.prior`): labelled (the labelled draw's,
    as trained) | estimated (the unlabelled pool's, estimated after training from the model's
    predictions, calibrated on the dev labels, and from the labels drawn at random: all of dev, or
    a `num_labels` draw; or `class_prior`), saved with the model and applied wherever it is
    loaded | auto: estimated where the pool's shares can be seen (`class_prior`, or a dev split
    drawn at random), else labelled (from the model alone, with 10 dev labels per class, nine
    models' estimates of a 20 % share ranged from 0 to 100 %). Either way the decision moves only
    where the estimate departs from what the model does now (`shares`: the shares it predicts on
    the pool) by more than three times its spread: on an 80 / 20 pool, models trained on 20
    labels drawn at random predicted the larger class for every review."""
    prior_estimator: str = "em"
    """em (Saerens et al. 2002) | bbse (black-box shift estimation, Lipton et al. 2018)."""
    prior_decision: str = "bounded"
    """bounded (the Bayes rule, held back toward `shares` just enough that every class's
    predicted share on the pool stays within `share_tolerance` of its estimated share: forced on
    the same mpnet and MiniLM models, it was level with `shares` on balanced Rotten Tomatoes and
    up to 2 points more accurate on the imbalanced pools) | shares (each class gets its estimated
    share of the pool's predictions) | bayes (posteriors re-weighted to the pool's prior: the most
    accurate rule when the posteriors are calibrated; where classes overlap it gives the larger
    class more than its share, and an estimate that overshoots the larger class's share moves it
    further: on `rotten_tomatoes_90_10` it predicted 1-5 % of the 10 % class)."""
    share_tolerance: float = 0.03
    """`prior_decision=bounded`: how far (as a share, 0.03 = 3 points) a class's predicted share
    on the pool may fall from its estimated share."""
    dev_per_class: int | None = None
    """Choose the best step, and calibrate the prior's estimate, on this many examples per class
    of the dev split (drawn with train.seed), as a user with few labels would; None: all of it."""
    max_length: int = 64
    dev_fraction: float = 0.1
    """Share of a source without a dev split that is held out as dev (stratified, seed 0)."""
    test_fraction: float = 0.2
    """Share of a source without a test split that is held out as test (stratified, seed 0)."""

    def __post_init__(self) -> None:
        if self.labels_per_class is not None and self.num_labels is not None:
            raise TextsslError("data: set either `labels_per_class` or `num_labels`, not both")
        for name in ("labels_per_class", "num_labels", "max_length", "dev_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TextsslError(f"data.{name} must be at least 1, got {value}")
        if self.class_prior and (min(self.class_prior) < 0 or sum(self.class_prior) <= 0):
            raise TextsslError(f"data.class_prior holds shares of the classes (>= 0, not all 0), got {self.class_prior}")
        if not 0 <= self.share_tolerance <= 1:
            raise TextsslError(f"data.share_tolerance is a share, from 0 to 1, got {self.share_tolerance}")
        for name, allowed in (("prior", ("auto", "labelled", "estimated")), ("prior_estimator", ("em", "bbse")),
                              ("prior_decision", ("bayes", "bounded", "shares"))):
            if getattr(self, name) not in allowed:
                raise TextsslError(f"data.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    @property
    def dev_at_random(self) -> bool:
        """Whether the dev labels are a random sample of the data (not drawn per class)."""
        return self.dev_per_class is None

    @property
    def labels_at_random(self) -> bool:
        """Whether the labelled set is a random sample of the pool (not drawn per class)."""
        return self.labels_per_class is None

    def decides_with_pool_prior(self, every_label: bool = False) -> bool:
        """Whether the trained model's decision rule moves to the unlabelled pool's prior."""
        if self.prior == "auto":
            return not every_label and (bool(self.class_prior) or self.dev_at_random)
        return self.prior == "estimated"


@dataclass
class ViewsConfig:
    """How the views of an example are made (`textssl.data.views`).

    Text: the weak view is the text as it is; strong views come from a column of the data
    file or from `augment` ops, computed once and cached. Images: `weak` and `augment` are
    `augment.image` ops applied at batch time (the strong view is `augment` on top of `weak`),
    seeded by (row, pass over the data, copy). Labelled batches get the weak view.
    """

    column: str | None = None
    """A column of the training file holding an augmented version of each text: a string,
    or a list of strings for several copies (each epoch over the unlabelled set uses the next)."""
    augment: list[str] = field(default_factory=list)
    """The strong view: ops of the augment library applied in turn, e.g.
    ["backtranslation:backend=apertium"] or ["tfidf:p=0.7"] for text, ["randaugment:n=2,m=10"]
    for images."""
    weak: list[str] = field(default_factory=list)
    """Images only: the weak view's ops, e.g. ["weak:flip=0.5,shift=0.125"]; empty: the image as it is."""
    copies: int = 1
    """Text: strong views computed and cached per text with `augment`."""
    seed: int = 0
    """Seed of the augmentation; kept apart from train.seed so runs over seeds share one cache."""
    workers: int = 0
    """Text: processes that compute the strong views (0: one per CPU core); the views are the
    same for any number."""

    def __post_init__(self) -> None:
        if self.column is not None and not self.column.strip():
            raise TextsslError("views.column must name a column of the training file")
        if self.column is not None and self.augment:
            raise TextsslError("views: set either `column` or `augment`, not both")
        if self.copies < 1:
            raise TextsslError(f"views.copies must be at least 1, got {self.copies}")
        if self.workers < 0:
            raise TextsslError(f"views.workers must be 0 (one per CPU core) or more, got {self.workers}")


@dataclass
class ModelConfig:
    name: str = "minilm-l6"
    """Built-in name (`textssl list`), a Hugging Face Hub id, or a local model folder."""
    trust_remote_code: bool = False
    """Let transformers run the Python code that a Hub model or model folder ships with
    (`auto_map` in its config.json). Only for a model whose code you trust; without it, a model
    that needs its own code is one error."""
    mix_layer: int = 0
    """Where methods that mix examples (ICT, MixMatch) mix them: 0 the embedded input; for text
    models k > 0 mixes the hidden states after transformer layer k (TMix / MixText)."""
    cached_features: bool = False
    """Text only: freeze the encoder and train a linear head over its sentence embeddings
    (mean-pooled, L2-normalised), computed once per text and strong view and cached. Every
    algorithm runs unchanged, in seconds instead of minutes."""
    standardise_features: bool = True
    """With cached_features: scale each dimension by the pool's mean and standard deviation
    before the head. false keeps the L2-normalised embeddings, which suit an encoder trained
    for the task (after `textssl pretrain ... labelled_pairs`: 0.632 against 0.620 on Rotten
    Tomatoes, seeds 0-4, benchmarks/results/ssl_exploration.md finding 20)."""
    feature_dropout: float = 0.0
    """With cached_features: in training, zero each feature with this probability (and scale the
    rest), as dropout noises a fine-tuned encoder: the noise a self-trained student learns
    under, and what makes the two passes of the cached-mode Pi-model differ."""
    feature_noise: float = 0.0
    """With cached_features: in training, add Gaussian noise of this standard deviation to each
    feature the head reads (standardised ones have unit variance)."""

    def __post_init__(self) -> None:
        if not 0 <= self.feature_dropout < 1:
            raise TextsslError(f"model.feature_dropout must be in [0, 1), got {self.feature_dropout}")
        if self.feature_noise < 0:
            raise TextsslError(f"model.feature_noise must be at least 0, got {self.feature_noise}")
        if (self.feature_dropout or self.feature_noise) and not self.cached_features:
            raise TextsslError("model.feature_dropout and model.feature_noise noise the cached features' head: set "
                               "model.cached_features=true (a fine-tuned model has its own dropout)")
        if self.mix_layer < 0:
            raise TextsslError(f"model.mix_layer must be at least 0, got {self.mix_layer}")
        if self.cached_features and self.mix_layer:
            raise TextsslError("model.mix_layer: with model.cached_features there are no hidden layers to mix "
                               "in (MixUp mixes the embeddings); set model.mix_layer=0")
        if not self.standardise_features and not self.cached_features:
            raise TextsslError("model.standardise_features applies to the cached features' head: "
                               "set model.cached_features=true, or leave model.standardise_features out")


@dataclass
class LoopConfig:
    """What the one training loop (`textssl.engine.trainer`) reads: steps, batches, optimisation,
    precision, checkpoints and logs. A recipe's `train:` section (`TrainConfig`) and a pretraining
    recipe's `pretrain:` section (`PretrainConfig`) extend it."""

    section: ClassVar[str] = "train"
    """The recipe section these settings sit in, for messages."""

    seed: int = 0
    output_dir: str | None = None
    """Run folder; default `runs/<algorithm>-<dataset>-<labels>-seed<seed>`."""
    max_steps: int = 60
    batch_size: int = 16
    """Labelled examples per step and process."""
    optimizer: str = "adamw"
    """adamw | sgd (SGD with Nesterov momentum, as in the FixMatch code for images)."""
    learning_rate: float = 3e-5
    momentum: float = 0.9
    """sgd only."""
    weight_decay: float = 0.01
    layer_decay: float = 1.0
    """Layer-wise learning-rate decay: below 1, each transformer layer learns at this factor of
    the rate of the layer above (USB's text runs: 0.65-0.75); 1: one rate for all."""
    warmup_ratio: float = 0.1
    lr_schedule: str = "linear"
    """linear | cosine | constant (after warmup)."""
    max_grad_norm: float = 1.0
    """Clip the gradient's global L2 norm to this; 0 turns clipping off (the image recipes, as
    the FixMatch code: there FixMatch's norm stays near 3, and clipping at 1 divides its
    learning rate by 3 all run long). The norm is logged either way."""
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"
    """no | bf16 | fp16 (fp16 needs a GPU)."""
    save_every: int = 20
    log_every: int = 10
    resume: bool = True
    """Continue from the run folder's last checkpoint when there is one."""
    progress_bar: bool = True
    report_to: str = "none"
    """none | tensorboard | wandb: also send every logged metric to that tracker through
    accelerate (tensorboard writes under the run folder); its package must be installed."""

    def __post_init__(self) -> None:
        section = self.section
        for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise TextsslError(f"{section}.{name} must be at least 1, got {getattr(self, name)}")
        if self.optimizer not in ("adamw", "sgd"):
            raise TextsslError(f"{section}.optimizer must be adamw or sgd, got {self.optimizer!r}")
        if self.lr_schedule not in ("linear", "cosine", "constant"):
            raise TextsslError(f"{section}.lr_schedule must be linear, cosine or constant, got {self.lr_schedule!r}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise TextsslError(f"{section}.mixed_precision must be no, bf16 or fp16, got {self.mixed_precision!r}")
        if self.report_to not in ("none", "tensorboard", "wandb"):
            raise TextsslError(f"{section}.report_to must be none, tensorboard or wandb, got {self.report_to!r}")
        if self.max_grad_norm < 0:
            raise TextsslError(f"{section}.max_grad_norm must be at least 0 (0: no clipping), got {self.max_grad_norm}")
        if not 0 <= self.warmup_ratio < 1:
            raise TextsslError(f"{section}.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 < self.layer_decay <= 1:
            raise TextsslError(f"{section}.layer_decay must be in (0, 1], got {self.layer_decay}")


@dataclass
class TrainConfig(LoopConfig):
    """The `train:` section: the loop's settings, the unlabelled batches and evaluation on dev."""

    uratio: int = 1
    """Unlabelled examples per labelled example in a step."""
    eval_batch_size: int = 128
    eval_every: int = 20
    best_metric: str = "accuracy"
    """Dev metric that picks the checkpoint evaluated on test: accuracy | macro_f1."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("uratio", "eval_batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise TextsslError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.best_metric not in ("accuracy", "macro_f1"):
            raise TextsslError(f"train.best_metric must be accuracy or macro_f1, got {self.best_metric!r}")


@dataclass
class AlgorithmConfig:
    """Base of every algorithm's options; each algorithm file subclasses it."""

    needs_teacher: ClassVar[bool] = False
    """True for methods whose targets come from the EMA teacher (ema_decay must then be above 0)."""

    name: str = "supervised"
    ema_decay: float = 0.0
    """Above 0: keep an EMA of the weights with this decay; it is the model evaluated and
    saved, and the teacher whose predictions semi-supervised methods train towards."""

    def __post_init__(self) -> None:
        if self.name != type(self).name:
            raise TextsslError(f"algorithm.name={self.name!r}, but these are the options of {type(self).name} "
                               f"({type(self).__name__}); build them with that method's Config")
        if not 0.0 <= self.ema_decay < 1.0:
            raise TextsslError(f"algorithm.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.needs_teacher and self.ema_decay == 0:
            raise TextsslError(f"algorithm.ema_decay of {self.name} must be above 0 (its targets come from "
                               f"the EMA teacher), got {self.ema_decay}")


@dataclass
class PretrainConfig(LoopConfig):
    """In-domain pretraining of a text encoder on the training pool's texts (`textssl pretrain`);
    the folder it writes is a `model.name` for any recipe. Only `labelled_pairs` reads labels,
    and only those of the labelled draw. The loop's settings are those of `train:`, with
    pretraining's defaults."""

    section: ClassVar[str] = "pretrain"

    output_dir: str | None = None
    """Folder of the pretrained encoder; default `pretrained/<objective>-<dataset>-seed<seed>`."""
    max_steps: int = 500
    batch_size: int = 32
    warmup_ratio: float = 0.06
    save_every: int = 100
    objective: str = "contrastive"
    """contrastive: SimCSE's InfoNCE between two encodings of each text, the other texts of the
    batch as negatives, over mean-pooled embeddings (keeps a sentence encoder's space; Gao et
    al. 2021) | mlm: masked-LM (a new MLM head when the checkpoint has none, as MiniLM) |
    labelled_pairs: SetFit's stage (Tunstall et al. 2022): pairs of labelled texts, cosine
    similarity pulled to 1 within a class and to 0 across; the labelled draw is the one
    `data.labels_per_class` and `pretrain.seed` give a training run with that train.seed."""
    pair_iterations: int = 20
    """labelled_pairs only: pairs per labelled text (one within its class, one across) and round."""
    teacher: str = ""
    """labelled_pairs only: a trained classifier (run or model folder, any body) whose most
    confident labels on the pool join the labelled draw in the pairs."""
    teacher_per_class: int = 100
    """With `teacher`: the pool texts it labels per class, its most confident."""
    pairs: str = "dropout"
    """contrastive only: dropout (the same text twice; SimCSE unsupervised) | views (a text and
    its strong view from `views.augment`, e.g. its back-translation)."""
    temperature: float = 0.05
    mlm_probability: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.objective not in ("contrastive", "mlm", "labelled_pairs"):
            raise TextsslError(f"pretrain.objective must be contrastive, mlm or labelled_pairs, got {self.objective!r}")
        if self.pairs not in ("dropout", "views"):
            raise TextsslError(f"pretrain.pairs must be dropout or views, got {self.pairs!r}")
        if self.pair_iterations < 1:
            raise TextsslError(f"pretrain.pair_iterations must be at least 1, got {self.pair_iterations}")
        if self.teacher and self.objective != "labelled_pairs":
            raise TextsslError("pretrain.teacher labels pool texts for the pairs of pretrain.objective=labelled_pairs")
        if self.teacher_per_class < 1:
            raise TextsslError(f"pretrain.teacher_per_class must be at least 1, got {self.teacher_per_class}")
        if self.objective == "contrastive" and self.batch_size < 2:
            raise TextsslError("pretrain.batch_size: the contrastive objective needs at least 2 texts a batch")
        if not 0 < self.temperature:
            raise TextsslError(f"pretrain.temperature must be above 0, got {self.temperature}")
        if not 0 < self.mlm_probability < 1:
            raise TextsslError(f"pretrain.mlm_probability must be in (0, 1), got {self.mlm_probability}")


class Recipe:
    """What a training and a pretraining config share: their YAML, the folder name of their data,
    the loop's section, and the test of whether a run folder holds the run they describe."""

    data: DataConfig
    views: ViewsConfig
    config_file: ClassVar[str]
    """The file of the run folder that holds the resolved recipe."""

    @property
    def loop(self) -> LoopConfig:
        raise NotImplementedError

    @property
    def output_dir(self) -> Path:
        raise NotImplementedError

    def to_yaml(self) -> str:
        return OmegaConf.to_yaml(OmegaConf.structured(self))

    def dataset_slug(self) -> str:
        return Path(self.data.dataset).stem.replace("/", "_")

    def defaults(self) -> Recipe:
        """The config of the same shape with every setting at its default."""
        return type(self)()

    def same_run(self, saved_yaml: str) -> bool:
        """Whether the config a run folder holds describes the run this config describes.

        The settings a resumed run may change are left out, and a setting the saved config lacks
        (it was written before the setting existed) counts at its default, so that a release that
        adds or reorders settings can still resume a run.
        """
        saved = _with_defaults(yaml.safe_load(saved_yaml), yaml.safe_load(self.defaults().to_yaml()))
        return self._without_resumable(saved) == self._without_resumable(yaml.safe_load(self.to_yaml()))

    def _without_resumable(self, config: dict) -> dict:
        for key in RESUMABLE_CHANGES:
            config[self.loop.section].pop(key, None)
        config.get("views", {}).pop("workers", None)  # the views are the same for any number of workers
        return config


# Settings that may change between a run and its resumption without changing its result.
RESUMABLE_CHANGES = ("resume", "progress_bar", "report_to")


def _with_defaults(saved: dict, defaults: dict) -> dict:
    return {key: _with_defaults(value, defaults[key]) if isinstance(value, dict) and isinstance(defaults.get(key), dict)
            else value for key, value in {**defaults, **saved}.items()}


@dataclass
class PretrainRunConfig(Recipe):
    """A pretraining recipe: which texts (`data`), which encoder (`model`), which views
    (`views`, for `pretrain.pairs=views`) and how (`pretrain`)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    config_file: ClassVar[str] = "pretrain.yaml"

    @property
    def loop(self) -> PretrainConfig:
        return self.pretrain

    @property
    def output_dir(self) -> Path:
        if self.pretrain.output_dir:
            return Path(self.pretrain.output_dir)
        return Path("pretrained") / f"{self.pretrain.objective}-{self.dataset_slug()}-seed{self.pretrain.seed}"


@dataclass
class Config(Recipe):
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    config_file: ClassVar[str] = "config.yaml"

    @property
    def loop(self) -> TrainConfig:
        return self.train

    def defaults(self) -> Config:
        return Config(algorithm=type(self.algorithm)())

    @property
    def output_dir(self) -> Path:
        if self.train.output_dir:
            return Path(self.train.output_dir)
        labels = (f"{self.data.labels_per_class}pc" if self.data.labels_per_class is not None
                  else f"{self.data.num_labels}n" if self.data.num_labels is not None else "all")
        return Path("runs") / f"{self.algorithm.name}-{self.dataset_slug()}-{labels}-seed{self.train.seed}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
