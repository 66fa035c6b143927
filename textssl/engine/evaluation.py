from __future__ import annotations

import numpy as np
import torch
from accelerate import Accelerator
from sklearn.metrics import accuracy_score, f1_score
from torch.utils.data import DataLoader


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy, macro-F1, and the largest share of one predicted class (1.0 = collapsed)."""
    counts = np.bincount(predictions, minlength=num_classes)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", labels=list(range(num_classes)),
                                   zero_division=0)),
        "majority_share": float(counts.max() / max(1, counts.sum())),
    }


@torch.no_grad()
def predict(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and true labels of every example, gathered from all processes."""
    was_training = model.training
    model.eval()
    predictions, labels = [], []
    for batch in loader:
        logits = model(batch)
        preds, golds = accelerator.gather_for_metrics((logits.argmax(-1), batch["labels"]))
        predictions.append(preds.cpu())
        labels.append(golds.cpu())
    model.train(was_training)
    return torch.cat(predictions).numpy(), torch.cat(labels).numpy()


def evaluate(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator, num_classes: int) -> dict[str, float]:
    predictions, labels = predict(model, loader, accelerator)
    return classification_metrics(labels, predictions, num_classes)
