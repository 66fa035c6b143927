"""Mean Teacher (Tarvainen & Valpola 2017): the student agrees with an EMA of itself.

    teacher weights <- decay * teacher + (1 - decay) * student     after every step
    p = softmax(teacher(weak))               no gradient; distribution-aligned when asked
    L = CE(labelled) + mu(t) * mean(|| softmax(student(view)) - p ||^2)

The student sees the strong view when the data has one, else the weak view with its own
dropout noise. Defaults follow USB's Mean Teacher: decay 0.999, consistency weight 50
(the squared error of probability vectors is small), sigmoid ramp-up over 40 % of training.
The teacher is the model evaluated and saved, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.base import Needs, SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import mse_consistency
from textssl.algorithms.registry import register


@dataclass
class MeanTeacherConfig(SemiSupervisedConfig):
    needs_teacher = True

    name: str = "mean_teacher"
    ema_decay: float = 0.999
    unsup_weight: float = 50.0
    rampup_length: float = 0.4


@register
class MeanTeacher(SemiSupervised):
    Config = MeanTeacherConfig
    config: MeanTeacherConfig
    needs = Needs(strong_views=1)

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        probs = self.targets(model, unlabelled.weak)
        student_view = unlabelled.strong if unlabelled.strong is not None else unlabelled.weak
        student_logits = model(student_view)
        unsupervised = mse_consistency(probs, student_logits.float()).mean()
        return self.combine(supervised, unsupervised, progress, probs, torch.ones_like(probs[:, 0]), student_logits)
