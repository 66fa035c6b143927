"""Pi-model (Laine & Aila 2017; Sajjadi et al. 2016): two stochastic passes over an example agree.

    z = softmax(f(weak_1)),  z~ = softmax(f(weak_2))   two weak views (augmentation and dropout
                                                      differ; text: the same text, dropout only)
    L = CE(labelled) + mu(t) * mean(||z - z~||^2 / K)  z~ without gradient, K classes

Paper defaults: w_max 100 reached by a sigmoid ramp-up over the first 80 of 300 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.base import Needs, SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import mse_consistency
from textssl.algorithms.registry import register


@dataclass
class PiModelConfig(SemiSupervisedConfig):
    name: str = "pi_model"
    unsup_weight: float = 100.0
    rampup_length: float = 0.27


@register
class PiModel(SemiSupervised):
    refuses_alignment = "its targets are a second pass of the model, not pseudo-labels"
    Config = PiModelConfig
    needs = Needs(weak_views=2)

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        first, second = unlabelled.weak_views
        logits = model(first)
        with torch.no_grad():
            target = torch.softmax(model(second).float(), dim=-1)
        unsupervised = mse_consistency(target, logits.float()).mean() / self.num_classes
        return self.combine(supervised, unsupervised, progress, target, torch.ones_like(target[:, 0]), logits)
