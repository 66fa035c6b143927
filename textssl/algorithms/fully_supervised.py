"""Fine-tuning on every label of the training pool: the upper reference for the SSL methods."""

from textssl.algorithms.supervised import Supervised


class FullySupervised(Supervised):
    name = "fully_supervised"
    uses_all_labels = True
