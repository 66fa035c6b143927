"""Labelled-only fine-tuning: the baseline every semi-supervised method must beat."""

import torch.nn.functional as F

from textssl.algorithms.base import Algorithm, Needs, StepOutput
from textssl.algorithms.registry import register


@register
class Supervised(Algorithm):
    needs = Needs(weak_views=0)

    def training_step(self, model, labelled, unlabelled, progress):
        loss = F.cross_entropy(model(labelled), labelled["labels"])
        return StepOutput(loss, {"loss/supervised": loss.item()})
