"""Pure functions the algorithms share: schedules, sharpening, per-example losses, MixUp draws.

Per-example losses are averaged by the caller over the whole unlabelled batch, masked
examples counting as zero (as in the UDA and FixMatch code), unless a function says otherwise.
Masks and weights with state live in `masks.py`, the EMA teacher in `teacher.py`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from textssl.algorithms.masks import Gather, single_process

RAMPS = ("sigmoid", "linear", "cosine", "none")
TSA_SCHEDULES = ("linear", "exp", "log", "none")


def ramp_up(progress: float, length: float, kind: str = "sigmoid", start: float = 0.0) -> float:
    """Weight in [0, 1] for the unsupervised loss: 0 until `start`, then rising over `length`.

    Both are shares of training. sigmoid: exp(-5 (1 - t)^2) (Laine & Aila); linear: t;
    cosine: (1 - cos(pi t)) / 2 (AdaMatch); none: always 1.
    """
    if kind == "none":
        return 1.0
    if progress < start:
        return 0.0
    if length <= 0:
        return 1.0
    t = min(1.0, (progress - start) / length)
    if kind == "sigmoid":
        return math.exp(-5.0 * (1.0 - t) ** 2)
    return (1.0 - math.cos(math.pi * t)) / 2.0 if kind == "cosine" else t


def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """p_i^(1/T) / sum_j p_j^(1/T), computed in log space for small T."""
    return torch.softmax(torch.log(probs.clamp_min(1e-12)) / temperature, dim=-1)


def tsa_threshold(schedule: str, progress: float, num_classes: int) -> float:
    """UDA's training-signal-annealing threshold eta_t = alpha_t (1 - 1/K) + 1/K."""
    if schedule == "none":
        return 1.0
    alpha = {"linear": progress,
             "exp": math.exp(5.0 * (progress - 1.0)),
             "log": 1.0 - math.exp(-5.0 * progress)}[schedule]
    return alpha * (1.0 - 1.0 / num_classes) + 1.0 / num_classes


def tsa_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, threshold: float, label_smoothing: float = 0.0,
                      gather: Gather = single_process, num_processes: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over the labelled examples the model is not yet sure of.

    An example is dropped once its correct-class probability exceeds `threshold`; the loss
    is the sum over the kept ones divided by how many the global batch kept (zero when none
    are). Each process divides its sum by its share of that count, so the mean over the
    processes, which gradient averaging takes, is the global batch's loss.
    Returns the loss and the 0/1 mask of kept examples.
    """
    per_example = F.cross_entropy(logits, labels, reduction="none", label_smoothing=label_smoothing)
    correct_prob = torch.softmax(logits.detach(), dim=-1).gather(1, labels[:, None]).squeeze(1)
    keep = (correct_prob <= threshold).float()
    kept_share = gather(keep).sum() / num_processes
    return (per_example * keep).sum() / kept_share.clamp_min(1.0 / num_processes), keep


def kl_consistency(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example KL(target || softmax(logits)); `target` is a fixed probability vector."""
    return (target * (torch.log(target.clamp_min(1e-12)) - F.log_softmax(logits, dim=-1))).sum(-1)


def mse_consistency(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example squared distance between probability vectors (Mean Teacher, Pi-model)."""
    return ((torch.softmax(logits, dim=-1) - target) ** 2).sum(-1)


def hard_label_cross_entropy(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy against the argmax of `target` (pseudo-labels)."""
    return F.cross_entropy(logits, target.argmax(dim=-1), reduction="none")


def soft_cross_entropy(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy against a probability vector (MixMatch's mixed labels)."""
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-example entropy of softmax(logits) (entropy minimisation, Grandvalet & Bengio 2005)."""
    log_probs = F.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def mixup_weight(alpha: float, keep_larger: bool = False) -> float:
    """lambda ~ Beta(alpha, alpha), from torch's generator (seeded and checkpointed with the run).

    `keep_larger`: max(lambda, 1 - lambda), so a mixed example stays closer to its first
    input (MixMatch).
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample()) if alpha > 0 else 1.0
    return max(lam, 1.0 - lam) if keep_larger else lam
