"""Fine-tuning on every label of the training pool: the upper reference for the SSL methods."""

from textssl.algorithms.registry import register
from textssl.algorithms.supervised import Supervised


@register
class FullySupervised(Supervised):
    name = "fully_supervised"
    uses_all_labels = True
