"""Fine-tuning on every label of the training pool: the upper reference for the SSL methods."""

from dataclasses import dataclass

from textssl.algorithms.base import Needs
from textssl.algorithms.registry import register
from textssl.algorithms.supervised import Supervised
from textssl.config import AlgorithmConfig


@dataclass
class FullySupervisedConfig(AlgorithmConfig):
    name: str = "fully_supervised"


@register
class FullySupervised(Supervised):
    Config = FullySupervisedConfig
    needs = Needs(weak_views=0, every_label=True)
