"""Pseudo-labelling (Lee 2013): the model's own argmax on unlabelled data as a training label.

    p = softmax(f(x)) on the unlabelled input, no gradient through the label
    mask = max(p) >= threshold               (0: every example, as in the paper)
    L = CE(labelled) + mu(t) * mean(mask * CE(f(x), argmax p))

Paper defaults: weight alpha_f 3, ramped linearly (there between iterations 100 and 600).
Uses the weak view only; no augmentation needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.base import SemiSupervised, SemiSupervisedConfig
from textssl.ssl import hard_label_cross_entropy


@dataclass
class PseudoLabelConfig(SemiSupervisedConfig):
    name: str = "pseudo_label"
    unsup_weight: float = 3.0
    rampup: str = "linear"
    rampup_length: float = 0.5
    threshold: float = 0.0


class PseudoLabel(SemiSupervised):
    name = "pseudo_label"
    Config = PseudoLabelConfig

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        logits = model(unlabelled.weak)
        probs = self.align(torch.softmax(logits.detach().float(), dim=-1))
        mask = self.mask(probs, self.config.threshold)
        unsupervised = (hard_label_cross_entropy(probs, logits) * mask).mean()
        return self.combine(supervised, unsupervised, progress, probs, mask)
