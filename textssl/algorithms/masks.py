"""Masks, weights and alignment of unlabelled targets: the pieces FixMatch's family shares.

Each piece is a small `nn.Module` whose running statistics or per-example state are
buffers, so they are checkpointed with the algorithm and restored on resume. Statistics
are computed on the global batch: `gather` concatenates a tensor across processes (the
identity on one), so every process keeps the same state.

    fixed threshold    mask = max p >= tau                                        (FixMatch)
    FlexMatch          mask = max p >= tau * M(beta(c)),  M(x) = x / (2 - x)     (Zhang et al. 2021)
    FreeMatch          mask = max p >= tau_t * MaxNorm(p~_t)(c)                   (Wang et al. 2023)
    SoftMatch          w = exp(-min(max p - mu_t, 0)^2 / (2 sigma_t^2 / n^2))    (Chen et al. 2023)
    AdaMatch           mask = max p >= tau * mean(max p on the labelled batch)    (Berthelot et al. 2022)
    alignment          p~ = normalise(p * target / running_mean(p))              (ReMixMatch, AdaMatch)
    pool prior (EM)    pi <- mean_i normalise(p_i * pi / pi_train)               (Saerens et al. 2002)

c is the class predicted for the example.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from textssl.prior import em_step

Gather = Callable[[torch.Tensor], torch.Tensor]


def single_process(tensor: torch.Tensor) -> torch.Tensor:
    """The gather of a run on one process: the tensor itself."""
    return tensor


def confidence_mask(probs: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    """1.0 where the largest class probability reaches `threshold`, else 0.0."""
    return (probs.max(dim=-1).values >= threshold).float()


def most_confident_per_class(probs: torch.Tensor, share: float) -> torch.Tensor:
    """1.0 for the `share` most confident examples of each predicted class in the batch.

    A relative mask: it keeps the examples the model ranks highest for each class however
    large its logits have grown, so neither the mask rate nor the class balance of the
    targets can run away. At least one example per predicted class is kept.
    """
    confidence, predicted = probs.max(dim=-1)
    mask = torch.zeros_like(confidence)
    for label in predicted.unique():
        members = (predicted == label).nonzero().squeeze(1)
        keep = max(1, round(share * len(members)))
        mask[members[confidence[members].topk(keep).indices]] = 1.0
    return mask


class FlexMatchThreshold(nn.Module):
    """Curriculum pseudo-labelling: each class's threshold scales with how well it is learnt.

    sigma(c) = number of unlabelled examples whose last confident (> tau) prediction was c;
    beta(c) = sigma(c) / max(max_c' sigma(c'), unused) with warm-up (unused: examples never
    confidently predicted), else / max_c' sigma(c'). The per-example state is sized to the
    unlabelled pool.
    """

    def __init__(self, threshold: float, pool_size: int, num_classes: int, warmup: bool = True,
                 gather: Gather = single_process):
        super().__init__()
        self.threshold, self.num_classes, self.warmup, self.gather = threshold, num_classes, warmup, gather
        self.register_buffer("selected", torch.full((pool_size,), -1, dtype=torch.long))

    def learning_effect(self) -> torch.Tensor:
        """beta(c) for every class."""
        chosen = self.selected[self.selected >= 0]
        counts = torch.bincount(chosen, minlength=self.num_classes).float()
        unused = (self.selected < 0).sum().float()
        scale = torch.maximum(counts.max(), unused) if self.warmup else counts.max()
        return counts / scale.clamp_min(1.0)

    def forward(self, probs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        beta = self.learning_effect()
        confidence, predicted = probs.max(dim=-1)
        mask = (confidence >= self.threshold * (beta / (2.0 - beta))[predicted]).float()
        with torch.no_grad():
            confidence, predicted, index = self.gather(confidence), self.gather(predicted), self.gather(index)
            confident = confidence > self.threshold
            self.selected[index[confident]] = predicted[confident]
        return mask


class FreeMatchThreshold(nn.Module):
    """Self-adaptive thresholds: a global tau_t, the EMA of the mean confidence, scaled per class
    by the max-normalised EMA of the class probabilities p~_t. Also tracks the EMA histogram of
    the predicted classes for FreeMatch's fairness term. Starts at 1/K, as in the paper."""

    def __init__(self, num_classes: int, momentum: float = 0.999, gather: Gather = single_process):
        super().__init__()
        self.momentum, self.gather = momentum, gather
        self.register_buffer("tau", torch.tensor(1.0 / num_classes))
        self.register_buffer("class_probs", torch.full((num_classes,), 1.0 / num_classes))
        self.register_buffer("histogram", torch.full((num_classes,), 1.0 / num_classes))

    @torch.no_grad()
    def update(self, probs: torch.Tensor) -> None:
        everyone = self.gather(probs.float())
        confidence, predicted = everyone.max(dim=-1)
        histogram = torch.bincount(predicted, minlength=len(self.histogram)).float() / len(predicted)
        keep = self.momentum
        self.tau.mul_(keep).add_(confidence.mean(), alpha=1 - keep)
        self.class_probs.mul_(keep).add_(everyone.mean(0), alpha=1 - keep)
        self.histogram.mul_(keep).add_(histogram, alpha=1 - keep)

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        self.update(probs)
        thresholds = self.tau * self.class_probs / self.class_probs.max()
        confidence, predicted = probs.max(dim=-1)
        return (confidence >= thresholds[predicted]).float()


class SoftMatchWeight(nn.Module):
    """A truncated Gaussian weight on the confidence: 1 above the running mean mu_t, falling off
    with the running variance sigma_t^2 below it (n_sigma: how many deviations to 1/e^2-ish)."""

    def __init__(self, num_classes: int, n_sigma: float = 2.0, momentum: float = 0.999, gather: Gather = single_process):
        super().__init__()
        self.n_sigma, self.momentum, self.gather = n_sigma, momentum, gather
        self.register_buffer("mean", torch.tensor(1.0 / num_classes))
        self.register_buffer("variance", torch.tensor(1.0))

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        confidence = probs.max(dim=-1).values
        with torch.no_grad():
            everyone = self.gather(confidence.float())
            self.mean.mul_(self.momentum).add_(everyone.mean(), alpha=1 - self.momentum)
            self.variance.mul_(self.momentum).add_(everyone.var(unbiased=True), alpha=1 - self.momentum)
        below = (confidence - self.mean).clamp(max=0.0)
        return torch.exp(-below ** 2 / (2 * self.variance / self.n_sigma ** 2))


def relative_threshold_mask(probs: torch.Tensor, labelled_probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """AdaMatch: the threshold is `threshold` times the mean confidence on the labelled batch."""
    return confidence_mask(probs, threshold * labelled_probs.max(dim=-1).values.mean())


class DistributionAlignment(nn.Module):
    """Scale unlabelled predictions so their running class frequencies match a target.

    ReMixMatch / AdaMatch: p~ = normalise(p * target / running_mean(p)). The target is a
    fixed prior (the labelled class frequencies; uniform for SoftMatch) or, with
    `track_target`, a running mean of the predictions on labelled data (AdaMatch). Without
    it, a model that starts near chance can drift into predicting one class for everything
    and train on its own drift. momentum 0 aligns each (global) batch on its own.

    The running mean starts at the first batch's mean, as in USB, not at the target: a fresh
    head leans to one class (83 % of MiniLM's first pseudo-labels on Rotten Tomatoes, while
    its probabilities stay near 0.5), and a running mean that starts at the target and moves
    by 0.1 % a step would leave that lean in place for the whole of a short run.
    """

    def __init__(self, prior: torch.Tensor, momentum: float = 0.999, gather: Gather = single_process):
        super().__init__()
        self.momentum, self.gather = momentum, gather
        self.register_buffer("target", prior.float() / prior.sum())
        self.register_buffer("running", self.target.clone())
        self.register_buffer("started", torch.tensor(False))

    @torch.no_grad()
    def track_target(self, labelled_probs: torch.Tensor) -> None:
        self.target.mul_(self.momentum).add_(self.gather(labelled_probs.float()).mean(0), alpha=1 - self.momentum)

    @torch.no_grad()
    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        mean = self.gather(probs.float()).mean(0)
        keep = self.momentum if self.started else 0.0
        self.running.mul_(keep).add_(mean, alpha=1.0 - keep)
        self.started.fill_(True)
        aligned = probs * (self.target / self.running.clamp_min(1e-6))
        return aligned / aligned.sum(-1, keepdim=True)


class PriorEstimate(nn.Module):
    """The unlabelled pool's class prior, estimated from the model's predictions by EM (Saerens,
    Latinne & Decaestecker 2002). The predictions are read as posteriors under the training
    prior pi_train (the labelled draw's shares); pi <- mean_i normalise(p_i * pi / pi_train) is
    iterated to its fixed point on each (global) batch, starting from the current estimate, and
    the estimate follows those fixed points with `momentum`."""

    def __init__(self, training_prior: torch.Tensor, momentum: float = 0.99, iterations: int = 20,
                 gather: Gather = single_process):
        super().__init__()
        self.momentum, self.iterations, self.gather = momentum, iterations, gather
        self.register_buffer("training_prior", training_prior.float() / training_prior.sum())
        self.register_buffer("estimate", self.training_prior.clone())

    @torch.no_grad()
    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        everyone = self.gather(probs.float())
        prior = self.estimate.clone()
        for _ in range(self.iterations):
            prior = em_step(everyone, prior, self.training_prior)
        self.estimate.mul_(self.momentum).add_(prior, alpha=1.0 - self.momentum)
        return self.estimate
