"""The algorithm contract, and the base every semi-supervised method shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn

from textssl.algorithms.losses import RAMPS, entropy, ramp_up
from textssl.algorithms.masks import (DistributionAlignment, Gather, PriorEstimate, confidence_mask,
                                      most_confident_per_class, single_process)
from textssl.algorithms.teacher import EMATeacher
from textssl.batch import Batch, StepOutput, Views
from textssl.config import AlgorithmConfig, Config
from textssl.errors import TextsslError
from textssl.models import Classifier


@dataclass
class RunContext:
    """What an algorithm learns about its run in `setup`.

    `gather` concatenates a tensor across processes, in rank order (the identity on one
    process): statistics and per-example state computed from gathered tensors stay the same
    on every process, and equal those of one process that reads the whole global batch.
    """

    num_classes: int
    pool_size: int
    """Examples in the unlabelled pool; per-example state is sized to it and indexed by `Views.index`."""
    labelled_counts: torch.Tensor
    """Labelled examples per class."""
    gather: Gather = single_process
    num_processes: int = 1
    process_index: int = 0
    pool_prior: torch.Tensor | None = None
    """The unlabelled pool's class shares as known before training: `data.class_prior`, or the
    shares of the labels drawn at random (`SSLData.seen_prior`)."""
    label_names: list[str] = field(default_factory=list)
    pool_inputs: Callable[[], Dataset] | None = None
    """The pool's raw inputs (a text or image column), row for row with `Views.index`, for a method
    that labels the pool with another model."""

    def own_rows(self, everyone: torch.Tensor) -> torch.Tensor:
        """This process's rows of a tensor gathered from every process's equal share."""
        share = len(everyone) // self.num_processes
        return everyone[self.process_index * share:(self.process_index + 1) * share]


@dataclass(frozen=True)
class Needs:
    """What a method asks of the run it is assembled into (`build_run` reads it once)."""

    weak_views: int = 1
    """Weak views of each unlabelled example per step."""
    strong_views: int = 0
    """Strong views of each unlabelled example per step, when the data has them."""
    strong_view_required: bool = False
    """The method cannot run without a strong view (otherwise it uses one if the data has it)."""
    every_label: bool = False
    """Train on every label of the training pool (the fully supervised reference)."""

    @property
    def unlabelled(self) -> bool:
        """Whether the method reads unlabelled examples at all: without, the pool is neither
        preprocessed nor drawn from, and `training_step` gets None for them."""
        return bool(self.weak_views or self.strong_views)


class Algorithm:
    """One training method: turns a step's labelled and unlabelled batches into a loss.

    A subclass sets its options dataclass `Config` (a subclass of AlgorithmConfig, filled from
    the recipe's `algorithm:` section; the default of its `name` field is the method's name),
    says what it `needs` of the run, is decorated with `@register`, and implements
    `training_step`. The engine does everything else: data and views,
    optimisation, evaluation, checkpoints, and the analysis of `unlabelled_probs` / `mask`
    against the hidden labels.

    `labelled` holds model inputs (the weak view) and `labels`; `unlabelled` holds
    `needs.weak_views` weak and up to `needs.strong_views` strong views of each example and its row in
    the pool, never a label. `progress` is step / max_steps. The model is called as
    `model(batch)`, `model(batch, perturbation=r)` (r added to the embedded input) or
    `model(batch, mix=Mix(...))`; `self.backbone` is the unwrapped model for its helpers
    (`embed`, `normalize_perturbation`, `concat`). State that must survive a resume
    (teacher, running statistics, per-example state) lives in `self.state`, an nn.ModuleDict
    the engine places on the device and checkpoints.
    """

    name: ClassVar[str]
    """Set by `@register` from the default of `Config.name`."""
    Config: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig
    needs: Needs = Needs()

    def __init__(self, config: AlgorithmConfig):
        self.config = config
        self.state = nn.ModuleDict()

    @classmethod
    def runs(cls, config: Config) -> list[Config]:
        """The runs a config stands for, in order (one; several for a method trained in rounds)."""
        return [config]

    def setup(self, model: Classifier, context: RunContext) -> None:
        """Called once before training with the unwrapped model and what the run knows."""
        self.backbone, self.context = model, context
        if self.config.ema_decay > 0:
            self.state["teacher"] = EMATeacher(model, self.config.ema_decay)

    @property
    def num_classes(self) -> int:
        return self.context.num_classes

    def training_step(self, model: Classifier, labelled: Batch, unlabelled: Views | None, progress: float) -> StepOutput:
        raise NotImplementedError

    def after_optimizer_step(self, model: Classifier) -> None:
        """Called after every optimizer step with the unwrapped model (EMA updates go here)."""
        if "teacher" in self.state:
            self.state["teacher"].update(model)

    def evaluation_model(self, model: nn.Module) -> nn.Module:
        """The model that is evaluated and saved: the EMA teacher when there is one, else `model`."""
        return self.state["teacher"].model if "teacher" in self.state else model


@dataclass
class SemiSupervisedConfig(AlgorithmConfig):
    """Options every semi-supervised method shares: L = L_s + mu(t) L_u (+ entropy_weight * H)."""

    unsup_weight: float = 1.0
    """lambda_u: the weight of the unsupervised loss once ramped up."""
    rampup: str = "sigmoid"
    """sigmoid | linear | none: how mu(t) rises from 0 to unsup_weight."""
    rampup_length: float = 0.2
    """Share of training over which mu(t) rises."""
    rampup_start: float = 0.0
    """Share of training before mu(t) starts rising (Lee 2013 waits 100 of 600 iterations)."""
    label_smoothing: float = 0.0
    """On the labelled loss: bounds how far memorising a few labelled examples can push the
    logits, and with them the confidence of every unlabelled prediction."""
    confident_share: float = 1.0
    """Of each predicted class in an unlabelled batch, the most confident share that may pass
    the mask (1.0: all; the threshold still applies)."""
    distribution_alignment: bool = False
    """Scale unlabelled predictions so their running class frequencies match `alignment_prior`."""
    alignment_prior: str = "auto"
    """What alignment aligns to: labelled (the labelled draw's class shares) | uniform | pool
    (`data.class_prior` when the recipe gives it; else, where the run decides with the pool's
    prior, the shares of the labels drawn at random: all of dev, a `data.num_labels` draw; else
    the pool's prior estimated from the model's predictions by EM) | auto: pool where one of the
    first two is known, else labelled. On `rotten_tomatoes_80_20` (10 per class, seeds 0-2)
    `make train`'s recipe aligned to the dev labels' shares scored 0.738-0.762 (macro-F1
    0.589-0.621); aligned to the labelled draw's, 0.710-0.747 at the same predicted shares."""
    alignment_momentum: float = 0.99
    """Of the running class frequencies: about the last 100 steps, near ReMixMatch's 128
    batches. Short runs swing faster than that; 0 aligns each batch on its own
    (benchmarks/results/ssl_exploration.md)."""
    entropy_weight: float = 0.0
    """Above 0: add entropy minimisation, weight * mean H(p) of the student's predictions on the
    unlabelled view it trains on, ramped with mu(t)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.label_smoothing < 1.0:
            raise TextsslError(f"algorithm.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 < self.confident_share <= 1.0:
            raise TextsslError(f"algorithm.confident_share must be in (0, 1], got {self.confident_share}")
        if not 0.0 <= self.rampup_start < 1.0:
            raise TextsslError(f"algorithm.rampup_start must be in [0, 1), got {self.rampup_start}")
        if self.rampup not in RAMPS:
            raise TextsslError(f"algorithm.rampup must be one of {', '.join(RAMPS)}, got {self.rampup!r}")
        if self.entropy_weight < 0:
            raise TextsslError(f"algorithm.entropy_weight must be at least 0, got {self.entropy_weight}")
        if self.alignment_prior not in ("auto", "labelled", "uniform", "pool"):
            raise TextsslError(f"algorithm.alignment_prior must be auto, labelled, uniform or pool, "
                               f"got {self.alignment_prior!r}")


class SemiSupervised(Algorithm):
    """Base of the methods with an unsupervised term: its weight, its targets (from the model
    or an EMA teacher), optional alignment and entropy minimisation."""

    Config = SemiSupervisedConfig
    config: SemiSupervisedConfig
    refuses_alignment: ClassVar[str | None] = None
    """Why the method does not take `distribution_alignment` (None: its targets come from
    `targets`, which alignment acts on)."""
    masks_by_confidence: ClassVar[bool] = False
    """Whether the method's mask is `mask`, which `confident_share` limits."""

    def __init__(self, config: SemiSupervisedConfig):
        super().__init__(config)
        if config.distribution_alignment and self.refuses_alignment:
            raise TextsslError(f"algorithm.distribution_alignment: {self.name} does not take it "
                               f"({self.refuses_alignment}); leave it false")
        if config.confident_share < 1.0 and not self.masks_by_confidence:
            raise TextsslError(f"algorithm.confident_share: {self.name} has no fixed-threshold mask for it to limit "
                               f"(fixmatch, uda and pseudo_label have); leave it at 1.0")

    def setup(self, model: Classifier, context: RunContext) -> None:
        super().setup(model, context)
        if self.config.distribution_alignment:
            prior, momentum = self.config.alignment_prior, self.config.alignment_momentum
            target = (torch.ones(context.num_classes) if prior == "uniform"
                      else context.pool_prior if prior in ("auto", "pool") and context.pool_prior is not None
                      else context.labelled_counts)
            self.state["alignment"] = DistributionAlignment(target, momentum, context.gather)
            if prior == "pool" and context.pool_prior is None:
                self.state["pool_prior"] = PriorEstimate(context.labelled_counts, momentum, gather=context.gather)

    def unsup_weight(self, progress: float) -> float:
        config = self.config
        return config.unsup_weight * ramp_up(progress, config.rampup_length, config.rampup, config.rampup_start)

    @torch.no_grad()
    def targets(self, model: Classifier, weak: Batch, own_logits: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities on the weak view, from the teacher when there is one, aligned when asked.

        `own_logits`: the model's logits on `weak` when the caller has computed them already.
        """
        if "teacher" in self.state:
            logits = self.state["teacher"](weak)
        else:
            logits = own_logits if own_logits is not None else model(weak)
        return self.align(torch.softmax(logits.float(), dim=-1))

    def combine(self, supervised: torch.Tensor, unsupervised: torch.Tensor, progress: float, probs: torch.Tensor,
                mask: torch.Tensor, unlabelled_logits: torch.Tensor, **logs: float) -> StepOutput:
        """L = L_s + mu(t) (L_u + entropy_weight * mean H(unlabelled_logits)), with the logs every
        method shares. `unlabelled_logits`: the student's logits (with gradient) on the
        unlabelled view it trains on; only the entropy term reads them."""
        weight = self.unsup_weight(progress)
        if self.config.entropy_weight > 0:
            penalty = entropy(unlabelled_logits.float()).mean()
            unsupervised = unsupervised + self.config.entropy_weight * penalty
            logs["loss/entropy"] = penalty.item()
        return StepOutput(supervised + weight * unsupervised,
                          {"loss/supervised": supervised.item(), "loss/unsupervised": unsupervised.item(),
                           "unsup_weight": weight, **logs},
                          unlabelled_probs=probs, mask=mask)

    def supervised_loss(self, model: Classifier, labelled: Batch) -> torch.Tensor:
        return self.labelled_loss(model(labelled), labelled["labels"])

    def labelled_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, label_smoothing=self.config.label_smoothing)

    def mask(self, probs: torch.Tensor, threshold: float) -> torch.Tensor:
        """The confidence mask, limited to the most confident `confident_share` of each class."""
        mask = confidence_mask(probs, threshold)
        if self.config.confident_share < 1.0:  # ranked within the global batch, as one process ranks it
            ranked = most_confident_per_class(self.context.gather(probs), self.config.confident_share)
            mask = mask * self.context.own_rows(ranked)
        return mask

    def align(self, probs: torch.Tensor) -> torch.Tensor:
        """The unlabelled predictions, distribution-aligned when the recipe asks for it."""
        if "pool_prior" in self.state:
            self.state["alignment"].target.copy_(self.state["pool_prior"](probs))
        return self.state["alignment"](probs) if "alignment" in self.state else probs
