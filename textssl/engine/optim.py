from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from textssl.config import TrainConfig

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight", "bn", "BatchNorm")


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; biases and normalisation weights get no weight decay (as in BERT).

    The fused kernel: on CPU it takes a fifth of the time of the default per-tensor loop,
    which for MiniLM was over a third of a training step.
    """
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or any(k in name for k in NO_DECAY) else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> LambdaLR:
    """Linear warmup over `warmup_ratio` of the steps, then linear, cosine or constant."""
    warmup = int(config.warmup_ratio * config.max_steps)
    decay_steps = max(1, config.max_steps - warmup)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        done = min(1.0, (step - warmup) / decay_steps)
        if config.lr_schedule == "linear":
            return 1.0 - done
        if config.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * done))
        return 1.0

    return LambdaLR(optimizer, factor)
