from __future__ import annotations

import numpy as np
import torch
from accelerate import Accelerator
from sklearn.metrics import accuracy_score, f1_score
from torch.utils.data import DataLoader


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy, macro-F1, each class's share of the predictions, and the largest of those
    shares (1.0 = collapsed)."""
    counts = np.bincount(predictions, minlength=num_classes)
    shares = counts / max(1, counts.sum())
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", labels=list(range(num_classes)),
                                   zero_division=0)),
        "majority_share": float(shares.max()),
        "predicted_share": [round(float(share), 6) for share in shares],
    }


@torch.no_grad()
def outputs(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator) -> tuple[np.ndarray, np.ndarray | None]:
    """The logits of every example, and its label when the loader has them, gathered from all processes."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for batch in loader:
        batch_logits = model(batch).float()
        gathered = accelerator.gather_for_metrics((batch_logits, batch["labels"]) if "labels" in batch
                                                  else (batch_logits,))
        logits.append(gathered[0].cpu())
        labels.extend(label.cpu() for label in gathered[1:])
    model.train(was_training)
    return torch.cat(logits).numpy(), torch.cat(labels).numpy() if labels else None


def predict(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and true labels of every example, gathered from all processes."""
    logits, labels = outputs(model, loader, accelerator)
    return logits.argmax(-1), labels


def evaluate(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator, num_classes: int) -> dict[str, float]:
    predictions, labels = predict(model, loader, accelerator)
    return classification_metrics(labels, predictions, num_classes)
