"""Image backbones for the image recipes (digits, MNIST, Fashion-MNIST): a small CNN and a
WideResNet as in the FixMatch code (Zagoruyko & Komodakis 2016; pre-activation blocks,
LeakyReLU 0.1; BatchNorm keeps PyTorch's momentum 0.1, not the code's 0.001, which suits 2^20
steps but leaves the running statistics half-initial after a CPU schedule of 600), named ``wrn-DEPTH-WIDTH`` (``wrn-28-2`` is
FixMatch's CIFAR-10 network; ``wrn-10-2`` is small enough for a CPU)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from textssl.config import ModelConfig
from textssl.errors import TextsslError
from textssl.models.base import Batch, Classifier
from textssl.models.registry import register_backbone

WIDE_RESNET = re.compile(r"wrn-(\d+)-(\d+)")


@register_backbone
class ImageClassifier(Classifier):
    """Pixels in, logits out: `features` (images -> vectors) and a linear `head`, which subclasses
    build. `model.name` is the architecture: `small-cnn` or `wrn-DEPTH-WIDTH`."""

    kind = "image"
    description = "an image network"
    input_column = "image"
    names = ("small-cnn", "wrn-DEPTH-WIDTH")
    features: nn.Module
    head: nn.Linear

    def __init__(self, label_names: list[str], architecture: str) -> None:
        super().__init__()
        self.label_names, self.architecture = label_names, architecture

    @classmethod
    def claims(cls, config: ModelConfig) -> bool:
        return config.name == "small-cnn" or WIDE_RESNET.fullmatch(config.name) is not None

    @classmethod
    def from_config(cls, config: ModelConfig, label_names: list[str], max_length: int) -> ImageClassifier:
        return cls.of_architecture(config.name, label_names)

    @staticmethod
    def of_architecture(name: str, label_names: list[str]) -> ImageClassifier:
        if match := WIDE_RESNET.fullmatch(name):
            return WideResNet(label_names, depth=int(match[1]), width=int(match[2]))
        if name == "small-cnn":
            return SmallCNN(label_names)
        raise TextsslError(f"unknown image architecture {name!r}; known: {', '.join(ImageClassifier.names)}")

    @classmethod
    def recognises(cls, saved: dict) -> bool:
        return "architecture" in saved

    @classmethod
    def from_saved(cls, folder: Path, saved: dict, max_length: int, trust_remote_code: bool) -> ImageClassifier:
        model = cls.of_architecture(saved["architecture"], saved["label_names"])
        model.load_weights(folder)
        return model

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
        config = {"architecture": self.architecture, "label_names": self.label_names}
        (directory / "config.json").write_text(json.dumps(config, indent=2))

    def load_weights(self, directory: Path) -> None:
        self.load_state_dict(load_file(Path(directory) / "model.safetensors"))


def _conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU(),
        nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class SmallCNN(ImageClassifier):
    """Three blocks of two 3x3 convolutions (32, 64, 128 channels), each halving the size."""

    def __init__(self, label_names: list[str], channels: int = 1, width: int = 32, dropout: float = 0.2):
        super().__init__(label_names, "small-cnn")
        self.features = nn.Sequential(_conv_block(channels, width), _conv_block(width, 2 * width),
                                      _conv_block(2 * width, 4 * width),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.head = nn.Linear(4 * width, len(label_names))


def _norm_act(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.LeakyReLU(0.1)]


class _PreActBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.pre = nn.Sequential(*_norm_act(channels_in))
        self.body = nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False),
                                  *_norm_act(channels_out), nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False))
        self.shortcut = (None if channels_in == channels_out and stride == 1
                         else nn.Conv2d(channels_in, channels_out, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.pre(x)
        return self.body(activated) + (x if self.shortcut is None else self.shortcut(activated))


class WideResNet(ImageClassifier):
    """WRN-depth-width: a 16-channel stem, then three groups of (depth - 4) / 6 blocks with
    16·width, 32·width and 64·width channels (strides 1, 2, 2)."""

    def __init__(self, label_names: list[str], depth: int = 28, width: int = 2, channels: int = 1) -> None:
        if depth < 10 or (depth - 4) % 6:
            raise TextsslError(f"wrn-{depth}-{width}: depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...)")
        super().__init__(label_names, f"wrn-{depth}-{width}")
        blocks, widths = (depth - 4) // 6, [16, 16 * width, 32 * width, 64 * width]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)]
        for group in range(3):
            for block in range(blocks):
                stride = 2 if group > 0 and block == 0 else 1
                layers.append(_PreActBlock(widths[group] if block == 0 else widths[group + 1], widths[group + 1], stride))
        layers += [*_norm_act(widths[3]), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[3], len(label_names))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="leaky_relu")
