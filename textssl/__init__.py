"""textssl: semi-supervised text classification on Hugging Face models."""

from textssl.config import Config, load_config
from textssl.errors import TextsslError

__version__ = "0.1.0"
__all__ = ["Config", "TextsslError", "load_config", "train"]


def train(config: Config) -> dict:
    """Run one training job; returns the final metrics (also written to `metrics.json`)."""
    from textssl.engine.trainer import train as _train

    return _train(config)
