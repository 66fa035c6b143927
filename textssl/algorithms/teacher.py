"""The EMA teacher (Mean Teacher, ICT, and any method with `ema_decay`)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from textssl.models import batch_norm_layers


class EMATeacher(nn.Module):
    """A frozen copy of the student whose weights follow theta' <- d_t theta' + (1 - d_t) theta.

    d_t = min(decay, 1 - 1/(t + 1)) at the t-th update, as in the Mean Teacher code: early
    on the teacher follows the student closely instead of holding on to the random start
    for thousands of steps. Its BatchNorm statistics are its own: when it labels a batch, its
    BatchNorm layers use and track that batch's statistics (dropout stays off), as the Mean
    Teacher code runs its teacher in training mode. Statistics copied or averaged from the
    student do not fit the averaged weights: on mnist_5k such a teacher predicted one class
    for the first hundreds of steps. Built from the unwrapped student (so it is never wrapped for
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

    def forward(self, *args, **kwargs):
        norms = batch_norm_layers(self.model)
        for module in norms:
            module.train()
        try:
            return self.model(*args, **kwargs)
        finally:
            for module in norms:
                module.eval()
