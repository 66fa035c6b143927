import json

import numpy as np
import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, DatasetDict

from textssl.config import DataConfig
from textssl.data import BatchStream, load_splits, prepare_data, sample_labelled
from textssl.data.builtin import BUILTIN_DATASETS
from textssl.errors import TextsslError

from conftest import dead_pid, sentiment_rows


def data_config(path, **values) -> DataConfig:
    return DataConfig(dataset=str(path), text_column="review", label_column="sentiment", **values)


def test_rotten_tomatoes_has_the_documented_split():
    splits = load_splits(DataConfig(dataset="rotten_tomatoes"))
    assert {name: len(split) for name, split in splits.items()} == {"train": 10252, "dev": 500, "test": 2000}
    assert splits["train"].features["label"].names == ["rotten", "fresh"]
    texts = [set(split["text"]) for split in splits.values()]
    assert sum(map(len, texts)) == 12752  # 12,808 reviews less 56 exact duplicates, no overlap
    for split in splits.values():  # stratified: "fresh" is 57.8% of the reviews
        assert np.mean(split["label"]) == pytest.approx(0.578, abs=0.002)
    again = load_splits(DataConfig(dataset="rotten_tomatoes"))
    assert again["test"]["text"][:20] == splits["test"]["text"][:20]


def test_subjectivity_pairs_plot_sentences_with_as_many_reviews():
    splits = load_splits(DataConfig(dataset="subjectivity"))
    assert {name: len(split) for name, split in splits.items()} == {"train": 8846, "dev": 500, "test": 2000}
    assert splits["train"].features["label"].names == ["objective", "subjective"]
    for split in splits.values():
        assert np.mean(split["label"]) == pytest.approx(0.5, abs=0.002)
    reviews = set(load_splits(DataConfig(dataset="rotten_tomatoes"))["train"]["text"])
    subjective = [text for text, label in zip(splits["train"]["text"], splits["train"]["label"]) if label == 1]
    objective = [text for text, label in zip(splits["train"]["text"], splits["train"]["label"]) if label == 0]
    assert sum(text in reviews for text in subjective) > 0.7 * len(subjective)
    assert not any(text in reviews for text in objective)


@pytest.mark.parametrize("name", ["rotten_tomatoes_80_20", "rotten_tomatoes_90_10",
                                  "subjectivity_80_20", "subjectivity_90_10"])
def test_imbalanced_variants_draw_the_minority_class_down_in_every_split(name):
    base, share = name.rsplit("_", 2)[0], int(name[-2:]) / 100
    splits, whole = load_splits(DataConfig(dataset=name)), load_splits(DataConfig(dataset=base))
    assert splits["train"].features["label"] == whole["train"].features["label"]
    rebuilt = BUILTIN_DATASETS[name]()
    for split, part in splits.items():
        rows = list(zip(part["text"], part["label"]))
        base_rows = list(zip(whole[split]["text"], whole[split]["label"]))
        assert abs(sum(label == 0 for _, label in rows) - share * len(rows)) <= 1
        assert sorted(row for row in rows if row[1] == 1) == sorted(row for row in base_rows if row[1] == 1)
        assert set(rows) <= set(base_rows)
        assert rebuilt[split][:] == part[:]


def test_wordnet_topics_is_an_imbalanced_six_class_task_over_definitions():
    splits = load_splits(DataConfig(dataset="wordnet_topics"))
    assert {name: len(split) for name, split in splits.items()} == {"train": 9500, "dev": 500, "test": 2000}
    assert splits["train"].features["label"].names == ["animal", "artifact", "food", "location", "person", "plant"]
    texts = [text for split in splits.values() for text in split["text"]]
    assert len(set(texts)) == len(texts) and all(texts)
    assert not any('; "' in text for text in texts)  # the quoted examples, which may name the word, are cut
    pool, test = (np.bincount(splits[name]["label"], minlength=6) / len(splits[name]) for name in ("train", "test"))
    assert np.abs(pool - test).max() <= 0.01
    assert pool.min() < 0.07 and pool.max() > 0.25  # the natural shares: food 6 %, artifact 27 %


def test_wordnet_topics_without_wordnet_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr("augment.text.wordnet.WORDNET_SOURCES", (tmp_path,))
    with pytest.raises(TextsslError, match="needs the Debian package `wordnet-base`"):
        BUILTIN_DATASETS["wordnet_topics"]()


def test_digits_images_are_channel_first_uint8():
    splits = load_splits(DataConfig(dataset="digits"))
    assert {name: len(split) for name, split in splits.items()} == {"train": 1257, "dev": 180, "test": 360}
    image = np.asarray(splits["train"][0]["image"])
    assert image.shape == (1, 8, 8) and image.max() <= 255


def test_labels_per_class_is_stratified_and_seeded():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    chosen = sample_labelled(labels, ["a", "b", "c"], per_class=5, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [5, 5, 5]
    assert np.array_equal(chosen, sample_labelled(labels, ["a", "b", "c"], per_class=5, seed=3))
    assert not np.array_equal(chosen, sample_labelled(labels, ["a", "b", "c"], per_class=5, seed=4))


def test_num_labels_is_a_seeded_random_draw_whose_class_counts_vary():
    labels = np.array([0] * 600 + [1] * 400)
    draws = [np.bincount(labels[sample_labelled(labels, ["a", "b"], total=20, seed=seed)]) for seed in range(200)]
    assert all(draw.sum() == 20 for draw in draws)
    assert len({tuple(draw) for draw in draws}) > 4  # not one stratified split
    assert np.mean([draw[0] for draw in draws]) == pytest.approx(12, abs=0.5)
    assert np.array_equal(sample_labelled(labels, ["a", "b"], total=20, seed=3),
                          sample_labelled(labels, ["a", "b"], total=20, seed=3))


def test_a_class_the_random_draw_misses_takes_one_label_of_the_largest(caplog):
    labels = np.array([0] * 990 + [1] * 10)
    missed = next(seed for seed in range(100)  # a seed whose plain draw takes none of the last ten
                  if np.random.default_rng(seed).choice(1000, 5, replace=False).max() < 990)
    chosen = sample_labelled(labels, ["a", "b"], total=5, seed=missed)
    assert len(chosen) == 5 and np.bincount(labels[chosen]).tolist() == [4, 1]
    assert "the random draw took no example of class 'b'" in caplog.text


def test_more_labels_per_class_than_exist_is_an_error():
    labels = np.array([0] * 50 + [1] * 3)
    with pytest.raises(TextsslError, match="class 'b' has only 3 examples"):
        sample_labelled(labels, ["a", "b"], per_class=5, seed=0)


def test_unlabelled_set_hides_labels(sentiment_csv):
    splits = load_splits(data_config(sentiment_csv))
    data = prepare_data(splits, lambda rows: {"length": [len(t) for t in rows["text"]]},
                        DataConfig(labels_per_class=4), seed=0)
    assert len(data.labelled) == 8 and "label" in data.labelled.column_names
    assert "label" not in data.unlabelled.column_names
    assert len(data.unlabelled) + len(data.labelled) == len(splits["train"])
    assert len(data.unlabelled_truth) == len(data.unlabelled)


def test_a_method_that_reads_no_unlabelled_example_preprocesses_the_labelled_rows_only(sentiment_csv):
    splits = load_splits(data_config(sentiment_csv))
    seen: list[str] = []

    def length(rows):
        seen.extend(rows["text"])
        return {"length": [len(t) for t in rows["text"]]}

    data = prepare_data(splits, length, DataConfig(labels_per_class=4), seed=0, preprocess_unlabelled=False)
    train_texts = set(splits["train"]["text"])
    assert sum(text in train_texts for text in seen) == 8 and len(seen) == 8 + len(splits["dev"]) + len(splits["test"])
    assert data.labelled.column_names == ["label", "length"] and data.unlabelled.column_names == []
    full = prepare_data(splits, length, DataConfig(labels_per_class=4), seed=0)
    assert data.labelled[:] == full.labelled[:] and len(data.unlabelled) == len(full.unlabelled)
    assert np.array_equal(data.unlabelled_truth, full.unlabelled_truth)


def test_a_given_pool_prior_is_normalised_and_must_name_every_class(sentiment_csv):
    splits = load_splits(data_config(sentiment_csv))
    length = lambda rows: {"length": [len(t) for t in rows["text"]]}  # noqa: E731
    data = prepare_data(splits, length, DataConfig(labels_per_class=4, class_prior=[3, 1]), seed=0)
    assert data.pool_prior.tolist() == [0.75, 0.25]
    with pytest.raises(TextsslError, match="data.class_prior has 3 shares, but the data has 2 classes"):
        prepare_data(splits, length, DataConfig(labels_per_class=4, class_prior=[0.2, 0.3, 0.5]), seed=0)


def test_stream_is_a_function_of_the_step_and_covers_each_epoch():
    dataset = pd.DataFrame({"x": range(10)})
    stream = BatchStream(Dataset.from_pandas(dataset), 4, seed=(0, 0))
    first_epochs = np.concatenate([stream.indices(step) for step in range(5)])  # 20 positions = 2 epochs
    assert sorted(first_epochs[:10]) == list(range(10)) and sorted(first_epochs[10:]) == list(range(10))
    fresh = BatchStream(Dataset.from_pandas(dataset), 4, seed=(0, 0))
    assert np.array_equal(fresh.indices(3), stream.indices(3))
    ranks = [BatchStream(Dataset.from_pandas(dataset), 2, (0, 0), rank, 2) for rank in (0, 1)]
    assert np.array_equal(np.concatenate([r.indices(1) for r in ranks]), stream.indices(1))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_local_files_with_column_mapping(tmp_path, suffix):
    frame = sentiment_rows(100, seed=1)
    path = tmp_path / f"data{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False),
     ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     ".parquet": lambda: frame.to_parquet(path)}[suffix]()
    splits = load_splits(data_config(path))
    assert {name: len(split) for name, split in splits.items()} == {"train": 72, "dev": 8, "test": 20}
    assert splits["train"].features["label"].names == ["neg", "pos"]
    assert set(splits["train"].column_names) == {"text", "label"}


def test_missing_file(tmp_path):
    with pytest.raises(TextsslError, match="data file not found: .*nothing.csv"):
        load_splits(data_config(tmp_path / "nothing.csv"))


def test_wrong_column_names_the_file_and_the_columns(sentiment_csv):
    with pytest.raises(TextsslError, match=r"reviews\.csv: no column 'text' \(columns: review, sentiment, augmented\)"):
        load_splits(DataConfig(dataset=str(sentiment_csv)))


def test_dev_labels_outside_the_label_set(tmp_path, sentiment_csv):
    dev = tmp_path / "dev.jsonl"
    dev.write_text("\n".join(json.dumps({"review": "fine film", "sentiment": s}) for s in ["pos", "meh"]))
    with pytest.raises(TextsslError, match=r"\[dev\]: labels outside the label set \['neg', 'pos'\]: \['meh'\]"):
        load_splits(data_config(sentiment_csv, dev_file=str(dev)))


def test_empty_text_names_the_row(tmp_path):
    frame = sentiment_rows(20, seed=2)
    frame.loc[6, "review"] = "   "
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(TextsslError, match=r"gaps\.csv: row 7 has an empty text"):
        load_splits(data_config(path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(TextsslError, match="empty.csv: the file is empty"):
        load_splits(data_config(path))


def test_each_input_column_is_preprocessed_alone_so_no_pass_reads_another_passs_output():
    texts = [f"text {i}" for i in range(6)]
    pool = Dataset.from_dict({"text": texts, "label": [0, 1] * 3, "strong": [f"{t} again" for t in texts]})
    pool = pool.cast_column("label", ClassLabel(names=["a", "b"]))
    splits = DatasetDict({"train": pool, "dev": pool.remove_columns("strong"), "test": pool.remove_columns("strong")})
    read: list[list[str]] = []

    def length(rows):
        read.append(sorted(rows))
        return {"length": [len(t) for t in rows["text"]]}

    data = prepare_data(splits, length, DataConfig(labels_per_class=1), seed=0)
    assert read[:2] == [["text"], ["text"]]  # the pool's texts, then its strong views; dev and test follow
    assert sorted(data.unlabelled.column_names) == ["length", "strong_length"]
    rows = data.unlabelled[:]
    assert rows["strong_length"] == [[length + len(" again")] for length in rows["length"]]


def test_the_labels_drawn_at_random_show_the_pool_prior_before_training(sentiment_csv):
    splits = load_splits(data_config(sentiment_csv))
    length = lambda rows: {"length": [len(t) for t in rows["text"]]}  # noqa: E731
    dev = np.bincount(splits["dev"]["label"], minlength=2)

    def seen(**options) -> np.ndarray | None:
        return prepare_data(splits, length, DataConfig(**options), seed=0).seen_prior

    assert seen(labels_per_class=4).tolist() == pytest.approx(((dev + 1) / (dev.sum() + 2)).tolist())
    random_draw = prepare_data(splits, length, DataConfig(labels_per_class=None, num_labels=6), seed=0)
    both = dev + np.bincount(random_draw.labelled["label"], minlength=2)
    assert random_draw.seen_prior.tolist() == pytest.approx(((both + 1) / (both.sum() + 2)).tolist())
    assert seen(labels_per_class=4, prior="labelled") is None  # the run keeps the labelled prior
    assert seen(labels_per_class=4, dev_per_class=2, prior="estimated") is None  # no label was drawn at random
