"""UDA (Xie et al. 2020): consistency between a sharpened weak-view target and the strong view.

    p = softmax(f(weak))                     no gradient (the EMA teacher's when ema_decay > 0);
                                             distribution-aligned when asked
    mask = max(p) >= threshold               (0.8)
    L_u = mean(mask * KL(sharpen(p, T) || softmax(f(strong))))    T = 0.4
    L_s = cross-entropy over the labelled examples whose correct-class probability is
          still <= eta_t (training-signal annealing), divided by how many those are
    L = L_s + mu(t) * L_u

Paper defaults for text: T 0.4, threshold 0.8, lambda_u 1, TSA linear (the paper also
uses exp and log), no ramp-up. TSA is on the correct-class probability as in the original
code (USB's version masks on the largest probability; its NLP UDA results sit at chance).
"""

from __future__ import annotations

from dataclasses import dataclass

from textssl.algorithms.base import Needs, SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import TSA_SCHEDULES, kl_consistency, sharpen, tsa_cross_entropy, tsa_threshold
from textssl.algorithms.registry import register
from textssl.errors import TextsslError


@dataclass
class UDAConfig(SemiSupervisedConfig):
    name: str = "uda"
    temperature: float = 0.4
    threshold: float = 0.8
    tsa: str = "linear"
    """linear | exp | log | none."""
    rampup: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tsa not in TSA_SCHEDULES:
            raise TextsslError(f"algorithm.tsa must be one of {', '.join(TSA_SCHEDULES)}, got {self.tsa!r}")


@register
class UDA(SemiSupervised):
    masks_by_confidence = True
    Config = UDAConfig
    needs = Needs(strong_views=1, strong_view_required=True)

    def training_step(self, model, labelled, unlabelled, progress):
        eta = tsa_threshold(self.config.tsa, progress, self.num_classes)
        supervised, kept = tsa_cross_entropy(model(labelled), labelled["labels"], eta, self.config.label_smoothing,
                                             self.context.gather, self.context.num_processes)
        probs = self.targets(model, unlabelled.weak)
        mask = self.mask(probs, self.config.threshold)
        target = sharpen(probs, self.config.temperature)
        strong_logits = model(unlabelled.strong)
        unsupervised = (kl_consistency(target, strong_logits.float()) * mask).mean()
        return self.combine(supervised, unsupervised, progress, probs, mask, strong_logits,
                            tsa_threshold=eta, tsa_kept=kept.mean().item())
