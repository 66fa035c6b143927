"""Entropy minimisation (Grandvalet & Bengio 2005): confident predictions on unlabelled data.

    L = CE(labelled) + mu(t) * mean(H(softmax(f(weak))))

Any semi-supervised method can add the same term with `entropy_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.base import SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import entropy
from textssl.algorithms.registry import register


@dataclass
class EntropyMinConfig(SemiSupervisedConfig):
    name: str = "entropy_min"
    unsup_weight: float = 1.0
    rampup_length: float = 0.4


@register
class EntropyMin(SemiSupervised):
    refuses_alignment = "it has no targets"
    Config = EntropyMinConfig

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        logits = model(unlabelled.weak)
        unsupervised = entropy(logits.float()).mean()
        probs = torch.softmax(logits.detach().float(), dim=-1)
        return self.combine(supervised, unsupervised, progress, probs, torch.ones_like(probs[:, 0]), logits)
