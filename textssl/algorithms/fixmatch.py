"""FixMatch (Sohn et al. 2020): confident hard pseudo-labels from the weak view teach the strong view.

    p = softmax(f(weak))                     no gradient (the EMA teacher's when ema_decay > 0);
                                             distribution-aligned when asked
    mask = max(p) >= threshold               (0.95)
    L = CE(labelled) + mu(t) * mean(mask * CE(f(strong), argmax p))

Paper defaults: threshold 0.95, lambda_u 1, no ramp-up, uratio 7.
"""

from __future__ import annotations

from dataclasses import dataclass

from textssl.algorithms.base import SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import hard_label_cross_entropy
from textssl.algorithms.registry import register


@dataclass
class FixMatchConfig(SemiSupervisedConfig):
    name: str = "fixmatch"
    threshold: float = 0.95
    rampup: str = "none"


@register
class FixMatch(SemiSupervised):
    name = "fixmatch"
    Config = FixMatchConfig
    strong_views = 1
    needs_strong_view = True

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        probs = self.targets(model, unlabelled.weak)
        mask = self.mask(probs, self.config.threshold)
        strong_logits = model(unlabelled.strong)
        unsupervised = (hard_label_cross_entropy(probs, strong_logits) * mask).mean()
        return self.combine(supervised, unsupervised, progress, probs, mask, strong_logits)
