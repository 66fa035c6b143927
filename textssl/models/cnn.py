"""A small convolutional network for the image recipes (digits, MNIST, Fashion-MNIST)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from textssl.models.base import Batch, Classifier


def _block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU(),
        nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class SmallCNN(Classifier):
    input_column = "image"

    def __init__(self, label_names: list[str], channels: int = 1, width: int = 32, dropout: float = 0.2):
        super().__init__()
        self.label_names, self.channels, self.width = label_names, channels, width
        self.features = nn.Sequential(_block(channels, width), _block(width, 2 * width), _block(2 * width, 4 * width),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.head = nn.Linear(4 * width, len(label_names))

    def preprocess(self, rows: dict[str, list]) -> dict[str, list]:
        return {"pixel_values": rows["image"]}

    def collate(self, rows: dict[str, list]) -> Batch:
        pixels = torch.from_numpy(np.asarray(rows["pixel_values"], dtype=np.float32))
        batch = {"pixel_values": pixels / 255.0}  # in [0, 1], as the image augmentations take them
        if "label" in rows:
            batch["labels"] = torch.as_tensor(rows["label"])
        return batch

    def embed(self, batch: Batch) -> torch.Tensor:
        return batch["pixel_values"] * 2.0 - 1.0

    def classify(self, embedded: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.head(self.features(embedded))

    def save_pretrained(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), directory / "model.safetensors")
        config = {"architecture": "small-cnn", "label_names": self.label_names,
                  "channels": self.channels, "width": self.width}
        (directory / "config.json").write_text(json.dumps(config, indent=2))

    def load_weights(self, directory: Path) -> None:
        self.load_state_dict(load_file(Path(directory) / "model.safetensors"))
