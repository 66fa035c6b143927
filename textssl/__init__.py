"""textssl: semi-supervised text classification on Hugging Face models.

    import textssl
    result = textssl.train("recipes/text/fixmatch.yaml", "train.max_steps=100")
    result.metrics["test"]["accuracy"], result.output_dir
    classify = textssl.load(result.output_dir)   # a transformers pipeline for text models
"""

from textssl.config import Config
from textssl.errors import TextsslError
from textssl.inference import evaluate, load
from textssl.recipe import load_config
from textssl.run import RunResult, build_run, train

__version__ = "0.1.0"
__all__ = ["Config", "RunResult", "TextsslError", "build_run", "evaluate", "load", "load_config", "train"]
