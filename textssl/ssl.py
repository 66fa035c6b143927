"""Pieces the semi-supervised algorithms share: schedules, targets, masks, losses, EMA teacher.

Everything here is a small pure function or a small stateful object with `state_dict`,
so an algorithm file reads as its method and nothing else. Per-example losses are averaged
over the whole unlabelled batch, masked examples counting as zero (as in the UDA and
FixMatch code), unless a function says otherwise.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

RAMPS = ("sigmoid", "linear", "none")
TSA_SCHEDULES = ("linear", "exp", "log", "none")


def ramp_up(progress: float, length: float, kind: str = "sigmoid", start: float = 0.0) -> float:
    """Weight in [0, 1] for the unsupervised loss: 0 until `start`, then rising over `length`.

    Both are shares of training. sigmoid: exp(-5 (1 - t)^2) (Laine & Aila); linear: t;
    none: always 1.
    """
    if kind == "none":
        return 1.0
    if progress < start:
        return 0.0
    if length <= 0:
        return 1.0
    t = min(1.0, (progress - start) / length)
    return math.exp(-5.0 * (1.0 - t) ** 2) if kind == "sigmoid" else t


def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """p_i^(1/T) / sum_j p_j^(1/T), computed in log space for small T."""
    return torch.softmax(torch.log(probs.clamp_min(1e-12)) / temperature, dim=-1)


def confidence_mask(probs: torch.Tensor, threshold: float) -> torch.Tensor:
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


def tsa_threshold(schedule: str, progress: float, num_classes: int) -> float:
    """UDA's training-signal-annealing threshold eta_t = alpha_t (1 - 1/K) + 1/K."""
    if schedule == "none":
        return 1.0
    alpha = {"linear": progress,
             "exp": math.exp(5.0 * (progress - 1.0)),
             "log": 1.0 - math.exp(-5.0 * progress)}[schedule]
    return alpha * (1.0 - 1.0 / num_classes) + 1.0 / num_classes


def tsa_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, threshold: float,
                      label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over the labelled examples the model is not yet sure of.

    An example is dropped once its correct-class probability exceeds `threshold`; the loss
    is the sum over the kept ones divided by how many were kept (zero when none are).
    Returns the loss and the 0/1 mask of kept examples.
    """
    per_example = F.cross_entropy(logits, labels, reduction="none", label_smoothing=label_smoothing)
    correct_prob = torch.softmax(logits.detach(), dim=-1).gather(1, labels[:, None]).squeeze(1)
    keep = (correct_prob <= threshold).float()
    return (per_example * keep).sum() / keep.sum().clamp_min(1.0), keep


def kl_consistency(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example KL(target || softmax(logits)); `target` is a fixed probability vector."""
    return (target * (torch.log(target.clamp_min(1e-12)) - F.log_softmax(logits, dim=-1))).sum(-1)


def mse_consistency(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example squared distance between probability vectors (Mean Teacher, Pi-model)."""
    return ((torch.softmax(logits, dim=-1) - target) ** 2).sum(-1)


def hard_label_cross_entropy(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy against the argmax of `target` (pseudo-labels)."""
    return F.cross_entropy(logits, target.argmax(dim=-1), reduction="none")


class DistributionAlignment(nn.Module):
    """Scale unlabelled predictions so their running class frequencies match the labelled prior.

    ReMixMatch / AdaMatch: p~ = normalise(p * prior / running_mean(p)). Without it, a model
    that starts near chance can drift into predicting one class for everything and train on
    its own drift. The running mean is a buffer, so it is checkpointed with the algorithm.
    """

    def __init__(self, prior: torch.Tensor, momentum: float = 0.999):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("prior", prior.float() / prior.sum())
        self.register_buffer("running", self.prior.clone())

    @torch.no_grad()
    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        self.running.mul_(self.momentum).add_(probs.mean(0), alpha=1.0 - self.momentum)
        aligned = probs * (self.prior / self.running.clamp_min(1e-6))
        return aligned / aligned.sum(-1, keepdim=True)


class EMATeacher(nn.Module):
    """A frozen copy of the student whose weights follow theta' <- d_t theta' + (1 - d_t) theta.

    d_t = min(decay, 1 - 1/(t + 1)) at the t-th update, as in the Mean Teacher code: early
    on the teacher follows the student closely instead of holding on to the random start
    for thousands of steps. Built from the unwrapped student (so it is never wrapped for
    several processes: every process holds the same teacher because every process holds the
    same student), kept in eval mode, and saved with the checkpoint in the algorithm's state.
    """

    def __init__(self, student: nn.Module, decay: float):
        super().__init__()
        self.decay = decay
        self.model = copy.deepcopy(student).eval().requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> EMATeacher:
        return super().train(False)  # dropout stays off in the teacher

    def current_decay(self) -> float:
        return min(self.decay, 1.0 - 1.0 / (int(self.updates) + 1))

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        self.updates += 1
        decay = self.current_decay()
        for teacher_param, student_param in zip(self.model.parameters(), student.parameters(), strict=True):
            teacher_param.lerp_(student_param.detach().to(teacher_param.dtype), 1.0 - decay)
        for teacher_buffer, student_buffer in zip(self.model.buffers(), student.buffers(), strict=True):
            teacher_buffer.copy_(student_buffer)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)
