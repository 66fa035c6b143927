from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from textssl.config import AlgorithmConfig
from textssl.models import Classifier
from textssl.models.base import Batch


@dataclass
class StepOutput:
    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


class Algorithm:
    """One training method: turns a step's labelled and unlabelled batches into a loss.

    A subclass sets `name`, its options dataclass `Config` (a subclass of AlgorithmConfig,
    filled from the recipe's `algorithm:` section) and implements `training_step`. The
    engine does everything else: data, optimisation, evaluation, checkpoints.

    `labelled` holds model inputs and `labels`; `unlabelled` holds model inputs and the
    stable dataset `index` of every row, never a label. `progress` is step / max_steps.
    """

    name: ClassVar[str]
    Config: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig
    uses_all_labels: ClassVar[bool] = False
    """True for references that train on every label of the training pool."""

    def __init__(self, config: AlgorithmConfig, num_classes: int):
        self.config, self.num_classes = config, num_classes

    def training_step(self, model: Classifier, labelled: Batch, unlabelled: Batch, progress: float) -> StepOutput:
        raise NotImplementedError
