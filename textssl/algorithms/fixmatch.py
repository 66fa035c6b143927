"""FixMatch (Sohn et al. 2020): confident hard pseudo-labels from the weak view teach the strong view.

    p = softmax(f(weak))                     no gradient (the EMA teacher's when ema_decay > 0);
                                             distribution-aligned when asked
    mask = max(p) >= threshold               (0.95)
    L = CE(labelled) + mu(t) * mean(mask * CE(f(strong), argmax p))

Paper defaults: threshold 0.95, lambda_u 1, no ramp-up, uratio 7. FlexMatch, FreeMatch,
SoftMatch and AdaMatch are FixMatch with another mask or weight (`weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.base import Needs, SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import hard_label_cross_entropy
from textssl.algorithms.registry import register


@dataclass
class FixMatchConfig(SemiSupervisedConfig):
    name: str = "fixmatch"
    threshold: float = 0.95
    rampup: str = "none"


@register
class FixMatch(SemiSupervised):
    masks_by_confidence = True
    Config = FixMatchConfig
    needs = Needs(strong_views=1, strong_view_required=True)

    def weights(self, probs: torch.Tensor, index: torch.Tensor, labelled_probs: torch.Tensor) -> torch.Tensor:
        """Weight in [0, 1] of each pseudo-label: here the fixed-threshold mask."""
        return self.mask(probs, self.config.threshold)

    def unsupervised_loss(self, probs: torch.Tensor, weights: torch.Tensor,
                          strong_logits: torch.Tensor) -> torch.Tensor:
        return (hard_label_cross_entropy(probs, strong_logits) * weights).mean()

    def training_step(self, model, labelled, unlabelled, progress):
        labelled_logits = model(labelled)
        supervised = self.labelled_loss(labelled_logits, labelled["labels"])
        probs = self.targets(model, unlabelled.weak)
        labelled_probs = torch.softmax(labelled_logits.detach().float(), dim=-1)
        weights = self.weights(probs, unlabelled.index, labelled_probs)
        strong_logits = model(unlabelled.strong)
        unsupervised = self.unsupervised_loss(probs, weights, strong_logits)
        return self.combine(supervised, unsupervised, progress, probs, weights, strong_logits)
