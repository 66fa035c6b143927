"""FlexMatch (Zhang et al. 2021): FixMatch whose threshold per class follows how well the class
is learnt (curriculum pseudo-labelling).

    sigma(c) = #unlabelled examples whose last confident (max p > tau) prediction was c
    beta(c) = sigma(c) / max(max_c sigma, #never confident)     (threshold warm-up)
    mask = max p >= tau * beta(c) / (2 - beta(c))               c = argmax p
    L = CE(labelled) + mu(t) * mean(mask * CE(f(strong), argmax p))

The per-example record is sized to the unlabelled pool and checkpointed. Paper defaults:
tau 0.95, warm-up on, the convex mapping x / (2 - x), lambda_u 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from textssl.algorithms.fixmatch import FixMatch, FixMatchConfig
from textssl.algorithms.masks import FlexMatchThreshold
from textssl.algorithms.registry import register


@dataclass
class FlexMatchConfig(FixMatchConfig):
    name: str = "flexmatch"
    threshold_warmup: bool = True


@register
class FlexMatch(FixMatch):
    masks_by_confidence = False  # its own mask replaces the fixed threshold
    Config = FlexMatchConfig
    config: FlexMatchConfig

    def setup(self, model, context):
        super().setup(model, context)
        self.state["threshold"] = FlexMatchThreshold(self.config.threshold, context.pool_size, context.num_classes,
                                                     self.config.threshold_warmup, context.gather)

    def weights(self, probs, index, labelled_probs):
        return self.state["threshold"](probs, index)
