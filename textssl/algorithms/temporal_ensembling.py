"""Temporal ensembling (Laine & Aila 2017): each example's prediction agrees with the running
average of its own past predictions.

    z = softmax(f(weak))                                  this pass, with augmentation and dropout
    Z_i <- alpha Z_i + (1 - alpha) z_i                    per example, after the step
    target_i = Z_i / (1 - alpha^t_i)                      bias-corrected; t_i: times i was seen
    L = CE(labelled) + mu(t) * mean(seen_i * ||z_i - target_i||^2 / K)

Examples not seen before have no target (masked). Z and t are sized to the unlabelled pool,
checkpointed, and updated from the whole global batch on every process. The paper updates Z
once per epoch; here each example's entry moves when the example is in a batch, which is the
same when every example is seen once per epoch. Paper defaults: alpha 0.6, w_max 30,
sigmoid ramp-up over the first 80 of 300 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from textssl.algorithms.base import SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import mse_consistency
from textssl.algorithms.registry import register
from textssl.errors import TextsslError


class EnsemblePredictions(nn.Module):
    """Z (pool x K) and how many times each example has been averaged in."""

    def __init__(self, pool_size: int, num_classes: int, alpha: float):
        super().__init__()
        self.alpha = alpha
        self.register_buffer("average", torch.zeros(pool_size, num_classes))
        self.register_buffer("seen", torch.zeros(pool_size, dtype=torch.long))

    def targets(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bias-corrected targets of rows `index`, and 1.0 where a row has been seen."""
        seen = self.seen[index]
        correction = 1.0 - self.alpha ** seen.clamp_min(1).float()
        return self.average[index] / correction[:, None], (seen > 0).float()

    @torch.no_grad()
    def update(self, index: torch.Tensor, probs: torch.Tensor) -> None:
        self.average[index] = self.alpha * self.average[index] + (1.0 - self.alpha) * probs.float()
        self.seen[index] += 1


@dataclass
class TemporalEnsemblingConfig(SemiSupervisedConfig):
    name: str = "temporal_ensembling"
    alpha: float = 0.6
    unsup_weight: float = 30.0
    rampup_length: float = 0.27

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.alpha < 1.0:
            raise TextsslError(f"algorithm.alpha must be in (0, 1), got {self.alpha}")


@register
class TemporalEnsembling(SemiSupervised):
    refuses_alignment = "its targets are the ensemble of past epochs' predictions"
    Config = TemporalEnsemblingConfig
    config: TemporalEnsemblingConfig

    def setup(self, model, context):
        super().setup(model, context)
        self.state["ensemble"] = EnsemblePredictions(context.pool_size, context.num_classes, self.config.alpha)

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        ensemble = self.state["ensemble"]
        target, seen = ensemble.targets(unlabelled.index)
        logits = model(unlabelled.weak)
        unsupervised = (mse_consistency(target, logits.float()) * seen).mean() / self.num_classes
        probs = torch.softmax(logits.detach().float(), dim=-1)
        ensemble.update(self.context.gather(unlabelled.index), self.context.gather(probs))
        return self.combine(supervised, unsupervised, progress, target, seen, logits)
