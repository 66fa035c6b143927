"""SoftMatch (Chen et al. 2023): FixMatch with a soft weight instead of a hard threshold, and
uniform alignment of the targets.

    p = UA(softmax(f(weak))) = normalise(p * (1/K) / EMA(mean p))      uniform alignment
    w = exp(-min(max p - mu_t, 0)^2 / (2 sigma_t^2 / n^2))             mu_t, sigma_t^2: EMA of the
                                                                       mean and variance of max p
    L = CE(labelled) + mu(t) * mean(w * CE(f(strong), argmax p))

Paper defaults: n 2 (n_sigma), EMA momentum 0.999, lambda_u 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.fixmatch import FixMatch, FixMatchConfig
from textssl.algorithms.masks import DistributionAlignment, SoftMatchWeight
from textssl.algorithms.registry import register


@dataclass
class SoftMatchConfig(FixMatchConfig):
    name: str = "softmatch"
    n_sigma: float = 2.0
    momentum: float = 0.999
    uniform_alignment: bool = True


@register
class SoftMatch(FixMatch):
    masks_by_confidence = False  # its own mask replaces the fixed threshold
    Config = SoftMatchConfig
    config: SoftMatchConfig

    def setup(self, model, context):
        super().setup(model, context)
        self.state["weight"] = SoftMatchWeight(context.num_classes, self.config.n_sigma, self.config.momentum,
                                               context.gather)
        if self.config.uniform_alignment and "alignment" not in self.state:
            uniform = torch.ones(context.num_classes)
            self.state["alignment"] = DistributionAlignment(uniform, self.config.momentum, context.gather)

    def weights(self, probs, index, labelled_probs):
        return self.state["weight"](probs)
