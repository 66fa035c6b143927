"""Pseudo-labelling (Lee 2013): the model's own argmax on unlabelled data as a training label.

    p = softmax(f(x)) on the unlabelled input, no gradient through the label (the EMA
        teacher's when ema_decay > 0; distribution-aligned when asked)
    mask = max(p) >= threshold               (0: every example, as in the paper)
    L = CE(labelled) + mu(t) * mean(mask * CE(f(x), argmax p))

Paper defaults: weight alpha_f 3, ramped linearly (there between iterations 100 and 600).
Uses the weak view only; no augmentation needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from textssl.algorithms.base import SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import hard_label_cross_entropy
from textssl.algorithms.registry import register


@dataclass
class PseudoLabelConfig(SemiSupervisedConfig):
    name: str = "pseudo_label"
    unsup_weight: float = 3.0
    rampup: str = "linear"
    rampup_length: float = 0.5
    threshold: float = 0.0


@register
class PseudoLabel(SemiSupervised):
    masks_by_confidence = True
    Config = PseudoLabelConfig

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        logits = model(unlabelled.weak)
        probs = self.targets(model, unlabelled.weak, own_logits=logits.detach())
        mask = self.mask(probs, self.config.threshold)
        unsupervised = (hard_label_cross_entropy(probs, logits) * mask).mean()
        return self.combine(supervised, unsupervised, progress, probs, mask, logits)
