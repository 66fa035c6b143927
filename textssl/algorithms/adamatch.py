"""AdaMatch (Berthelot et al. 2022) for semi-supervised learning: FixMatch with a threshold
relative to the confidence on labelled data, and alignment to the labelled predictions.

    p = normalise(p_u * EMA(mean p_labelled) / EMA(mean p_u))        distribution alignment
    mask = max p >= tau * mean(max softmax(f(labelled)))             relative threshold
    L = CE(labelled) + mu(t) * mean(mask * CE(f(strong), argmax p))
    mu(t) = 1/2 - cos(pi * min(1, 2t/T)) / 2                         (cosine ramp over half the run)

Paper defaults: tau 0.9, EMA momentum 0.999, lambda_u 1. AdaMatch's random logit
interpolation and separate batch statistics serve domain adaptation and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.fixmatch import FixMatch, FixMatchConfig
from textssl.algorithms.masks import DistributionAlignment, relative_threshold_mask
from textssl.algorithms.registry import register


@dataclass
class AdaMatchConfig(FixMatchConfig):
    name: str = "adamatch"
    threshold: float = 0.9
    momentum: float = 0.999
    rampup: str = "cosine"
    rampup_length: float = 0.5


@register
class AdaMatch(FixMatch):
    masks_by_confidence = False  # its own mask replaces the fixed threshold
    refuses_alignment = "it always aligns, to its running mean of the labelled predictions"
    Config = AdaMatchConfig
    config: AdaMatchConfig

    def setup(self, model, context):
        super().setup(model, context)
        uniform = torch.ones(context.num_classes)
        self.state["alignment"] = DistributionAlignment(uniform, self.config.momentum, context.gather)

    def weights(self, probs, index, labelled_probs):
        self.state["alignment"].track_target(labelled_probs)
        return relative_threshold_mask(probs, self.context.gather(labelled_probs), self.config.threshold)
