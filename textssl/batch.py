"""What flows from the data layer to the models and algorithms: batches of tensors and views."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

Batch = dict[str, torch.Tensor]


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


@dataclass
class Views:
    """An unlabelled batch: K weak and S strong views of each example (S may be 0), and each
    example's row in the unlabelled pool. Never a label."""

    weak_views: list[Batch]
    strong_views: list[Batch]
    index: torch.Tensor

    @property
    def weak(self) -> Batch:
        return self.weak_views[0]

    @property
    def strong(self) -> Batch | None:
        """The first strong view, or None when the data has none."""
        return self.strong_views[0] if self.strong_views else None

    def to(self, device: torch.device) -> Views:
        return Views([to_device(view, device) for view in self.weak_views],
                     [to_device(view, device) for view in self.strong_views], self.index.to(device))


@dataclass
class StepOutput:
    """What a training step gives the loop: the loss to minimise and what to log of it."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)
    unlabelled_probs: torch.Tensor | None = None
    """Class probabilities the method trained towards on the unlabelled batch (its targets)."""
    mask: torch.Tensor | None = None
    """Weight in [0, 1] of each unlabelled example's target (0: masked out)."""
