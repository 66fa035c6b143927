"""Interpolation consistency training (Verma et al. 2019): the student's prediction on a mix of
two unlabelled examples agrees with the mix of the teacher's predictions on them.

    p = softmax(teacher(weak))                        EMA teacher, no gradient
    lambda ~ Beta(alpha, alpha), pi a permutation of the batch
    u_mix = lambda u + (1 - lambda) u_pi              on the embedded input, or the hidden states
                                                      after model.mix_layer (text: TMix style)
    L = CE(labelled) + mu(t) * mean(||softmax(f(u_mix)) - (lambda p + (1 - lambda) p_pi)||^2 / K)

Paper defaults (CIFAR-10): alpha 1.0, w_max 100 with a sigmoid ramp-up, teacher decay 0.999.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.base import SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import mixup_weight, mse_consistency
from textssl.algorithms.registry import register
from textssl.models import Mix


@dataclass
class ICTConfig(SemiSupervisedConfig):
    needs_teacher = True

    name: str = "ict"
    alpha: float = 1.0
    ema_decay: float = 0.999
    unsup_weight: float = 100.0
    rampup_length: float = 0.4


@register
class ICT(SemiSupervised):
    Config = ICTConfig
    config: ICTConfig

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        probs = self.targets(model, unlabelled.weak)
        weight = mixup_weight(self.config.alpha)
        partner = torch.randperm(len(probs), device=probs.device)
        mixed_target = weight * probs + (1.0 - weight) * probs[partner]
        logits = model(unlabelled.weak, mix=Mix(partner, weight))
        unsupervised = mse_consistency(mixed_target, logits.float()).mean() / self.num_classes
        return self.combine(supervised, unsupervised, progress, probs, torch.ones_like(probs[:, 0]), logits)
