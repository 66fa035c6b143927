"""FreeMatch (Wang et al. 2023): FixMatch with self-adaptive thresholds and a fairness term.

    tau_t = EMA of the mean confidence max p;  p~_t = EMA of the mean class probabilities
    mask = max p >= tau_t * p~_t(c) / max_c' p~_t(c')           c = argmax p; both start at 1/K
    L_f = -H( SumNorm(p~_t / h~_t) , SumNorm(p_bar_s / h_bar_s) )    self-adaptive fairness:
          cross-entropy between the modulated model prior and the mean masked strong-view
          prediction (h: histograms of predicted classes)
    L = CE(labelled) + mu(t) * (mean(mask * CE(f(strong), argmax p)) + fairness_weight * L_f)

Paper defaults: EMA momentum 0.999, lambda_u 1, fairness weight 0.01 (a free parameter there).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textssl.algorithms.fixmatch import FixMatch, FixMatchConfig
from textssl.algorithms.masks import FreeMatchThreshold
from textssl.algorithms.registry import register


@dataclass
class FreeMatchConfig(FixMatchConfig):
    name: str = "freematch"
    momentum: float = 0.999
    fairness_weight: float = 0.01


def fairness_loss(strong_logits: torch.Tensor, mask: torch.Tensor, class_probs: torch.Tensor,
                  histogram: torch.Tensor) -> torch.Tensor:
    """FreeMatch's self-adaptive fairness, -H(prior~, mean~) = sum_c prior~(c) log mean~(c), over the
    masked examples (minimising it spreads the predictions over the classes)."""
    kept = mask.bool()
    if not kept.any():
        return strong_logits.sum() * 0.0
    probs = torch.softmax(strong_logits[kept].float(), dim=-1)
    batch_histogram = torch.bincount(probs.argmax(-1), minlength=probs.shape[1]).float()
    batch_histogram = batch_histogram / batch_histogram.sum()

    def modulated(values: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        scaled = values * torch.nan_to_num(1.0 / counts, nan=0.0, posinf=0.0)
        return scaled / scaled.sum()

    prior = modulated(class_probs, histogram).detach()
    return (prior * torch.log(modulated(probs.mean(0), batch_histogram) + 1e-12)).sum()


@register
class FreeMatch(FixMatch):
    masks_by_confidence = False  # its own mask replaces the fixed threshold
    Config = FreeMatchConfig
    config: FreeMatchConfig

    def setup(self, model, context):
        super().setup(model, context)
        self.state["threshold"] = FreeMatchThreshold(context.num_classes, self.config.momentum, context.gather)

    def weights(self, probs, index, labelled_probs):
        return self.state["threshold"](probs)

    def unsupervised_loss(self, probs, weights, strong_logits):
        threshold = self.state["threshold"]
        fairness = fairness_loss(strong_logits, weights, threshold.class_probs, threshold.histogram)
        return super().unsupervised_loss(probs, weights, strong_logits) + self.config.fairness_weight * fairness
