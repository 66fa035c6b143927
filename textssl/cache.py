"""textssl's cache folder (`TEXTSSL_CACHE`, default ~/.cache/textssl): built-in datasets,
computed text views and cached encoder features, each written whole or not at all
(`textssl.atomic`)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("TEXTSSL_CACHE", Path.home() / ".cache" / "textssl"))
