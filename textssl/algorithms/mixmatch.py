"""MixMatch (Berthelot et al. 2019): sharpened averages over K weak views as targets, and MixUp
across the labelled and unlabelled examples.

    q = sharpen(mean_k softmax(f(u_k)), T)            K weak views, no gradient
    W = labelled (one-hot targets) + K copies of the unlabelled batch (targets q)
    lambda' = max(lambda, 1 - lambda), lambda ~ Beta(alpha, alpha); pi a permutation of W
    W' = lambda' W + (1 - lambda') W_pi (inputs and targets)
    L = mean(soft CE on the mixed labelled part) + mu(t) * mean(||softmax(f) - target||^2 / K)
        on the mixed unlabelled part

Mixing acts on the embedded input, or on the hidden states after model.mix_layer for text
(MixText / TMix). Text's weak views are the text itself (dropout differs between passes).
Paper defaults: K 2, T 0.5, alpha 0.75, lambda_u 75 (CIFAR-10) ramped up linearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textssl.algorithms.base import Needs, SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import mixup_weight, mse_consistency, sharpen, soft_cross_entropy
from textssl.algorithms.registry import register
from textssl.errors import TextsslError
from textssl.models import Mix


@dataclass
class MixMatchConfig(SemiSupervisedConfig):
    name: str = "mixmatch"
    views: int = 2
    temperature: float = 0.5
    alpha: float = 0.75
    unsup_weight: float = 75.0
    rampup: str = "linear"
    rampup_length: float = 0.4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.views < 1 or self.temperature <= 0:
            raise TextsslError("algorithm.views must be at least 1 and algorithm.temperature above 0")


def guess_labels(view_probs: list[torch.Tensor], temperature: float) -> torch.Tensor:
    """MixMatch's label guess: the sharpened average of the predictions on K views."""
    return sharpen(torch.stack(view_probs).mean(0), temperature)


@register
class MixMatch(SemiSupervised):
    Config = MixMatchConfig
    config: MixMatchConfig

    def __init__(self, config: MixMatchConfig):
        super().__init__(config)
        self.needs = Needs(weak_views=config.views)

    def training_step(self, model, labelled, unlabelled, progress):
        with torch.no_grad():
            guess = guess_labels([self.targets(model, view) for view in unlabelled.weak_views],
                                 self.config.temperature)
        inputs = [{key: view[key] for key in unlabelled.weak} for view in [labelled, *unlabelled.weak_views]]
        everything = self.backbone.concat(inputs)
        targets = torch.cat([F.one_hot(labelled["labels"], self.num_classes).float(),
                             *[guess] * len(unlabelled.weak_views)])
        weight = mixup_weight(self.config.alpha, keep_larger=True)
        partner = torch.randperm(len(targets), device=targets.device)
        mixed_targets = weight * targets + (1.0 - weight) * targets[partner]
        logits = model(everything, mix=Mix(partner, weight)).float()
        size = len(labelled["labels"])
        supervised = soft_cross_entropy(mixed_targets[:size], logits[:size]).mean()
        unsupervised = mse_consistency(mixed_targets[size:], logits[size:]).mean() / self.num_classes
        return self.combine(supervised, unsupervised, progress, guess, torch.ones_like(guess[:, 0]), logits[size:])
