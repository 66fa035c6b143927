"""Cached-feature mode: a linear head over a frozen encoder's cached sentence embeddings."""

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer, BertModel

from textssl.errors import TextsslError
from textssl.config import ModelConfig
from textssl.models import build_backbone
from textssl.models.features import SentenceEncoder
from textssl.models.hf import resolve_model_path
from textssl.run import build_run, run as train

TEXTS = ["a wonderful film", "a dull, tedious plot", "the cast was brilliant",
         "review 3"]  # its sha1 ends in a zero byte, which a fixed-width bytes array would drop


def test_the_embedding_is_the_sentence_transformers_one_of_minilm():
    ours = SentenceEncoder("minilm-l6", max_length=64)(TEXTS)
    reference = SentenceTransformer(resolve_model_path("minilm-l6"), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_each_text_is_encoded_once_and_the_cache_follows_the_weights(tiny_model, tmp_path, monkeypatch):
    encoded: list[str] = []
    original = SentenceEncoder._encode
    monkeypatch.setattr(SentenceEncoder, "_encode", lambda self, texts, *progress: encoded.extend(texts) or original(self, texts))

    first = SentenceEncoder(tiny_model, max_length=16)
    started_alongside = SentenceEncoder(tiny_model, max_length=16)  # another process, built before the cache
    vectors = first([*TEXTS, TEXTS[0]])
    assert np.array_equal(started_alongside(TEXTS), vectors[:-1])  # it reads what `first` wrote meanwhile
    assert encoded == TEXTS and np.array_equal(vectors[0], vectors[-1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)

    again = SentenceEncoder(tiny_model, max_length=16)  # as in another process: read from the shards on disk
    assert np.array_equal(again(TEXTS), vectors[:-1]) and encoded == TEXTS

    retrained = BertModel.from_pretrained(tiny_model)
    with torch.no_grad():
        retrained.embeddings.word_embeddings.weight.add_(0.5)
    retrained.save_pretrained(tmp_path / "retrained")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "retrained")
    other = SentenceEncoder(str(tmp_path / "retrained"), max_length=16)
    assert other.fingerprint != first.fingerprint
    assert not np.allclose(other(TEXTS), vectors[:-1]) and encoded == [*TEXTS, *TEXTS]


def test_a_killed_encode_keeps_its_finished_shards_and_the_next_encodes_only_the_rest(tiny_model, monkeypatch):
    texts = [f"review number {i} of a long pool" for i in range(10)]
    monkeypatch.setattr(SentenceEncoder, "shard_texts", 4)
    original, encoded = SentenceEncoder._encode, []

    def killed_on_the_third_shard(self, batch, *progress):
        if len(encoded) == 8:
            raise KeyboardInterrupt
        encoded.extend(batch)
        return original(self, batch, *progress)

    monkeypatch.setattr(SentenceEncoder, "_encode", killed_on_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        SentenceEncoder(tiny_model, max_length=16)(texts)
    assert encoded == texts[:8]
    monkeypatch.setattr(SentenceEncoder, "_encode", lambda self, batch, *progress: encoded.extend(batch) or
                        original(self, batch, *progress))
    resumed = SentenceEncoder(tiny_model, max_length=16)(texts)  # as a rerun of the killed process
    assert encoded == texts  # the last two only
    np.testing.assert_allclose(resumed, original(SentenceEncoder(tiny_model, max_length=16), texts), atol=1e-6)


def test_a_head_trains_over_cached_features_with_any_method(tiny_config):
    config = tiny_config("model.cached_features=true", "algorithm.name=fixmatch", "views.column=augmented",
                         "algorithm.threshold=0.6", "algorithm.ema_decay=0.9", "train.learning_rate=1e-2",
                         "data.labels_per_class=40", "train.max_steps=100", "train.eval_every=20",
                         "train.save_every=20")
    run = build_run(config)
    encoder = run.trainer.backbone.encoder
    frozen = {name: tensor.clone() for name, tensor in encoder.model.state_dict().items()}
    metrics = run.execute()

    assert metrics["test"]["accuracy"] > 0.8
    backbone = run.trainer.backbone
    pool = backbone.embed(backbone.collate(run.task.data.unlabelled[:]))
    assert pool.mean(0).abs().max() < 1e-4 and (pool.std(0, unbiased=False) - 1).abs().max() < 1e-3
    assert all(torch.equal(frozen[name], tensor) for name, tensor in encoder.model.state_dict().items())
    assert run.task.algorithm.state["teacher"].model.encoder is encoder  # the EMA teacher shares the frozen encoder
    assert set(run.trainer.backbone.state_dict()) == {"head.weight", "head.bias", "feature_mean", "feature_scale"}


def test_without_standardisation_the_head_reads_the_l2_normalised_embeddings(tiny_config):
    run = build_run(tiny_config("model.cached_features=true", "model.standardise_features=false"))
    backbone = run.trainer.backbone
    rows = run.task.data.labelled[:8]  # supervised without standardisation never encodes the pool
    embedded = backbone.embed(backbone.collate(rows))
    assert torch.equal(embedded, torch.as_tensor(np.asarray(rows["features"], dtype=np.float32)))
    assert torch.allclose(embedded.norm(dim=1), torch.ones(8), atol=1e-5)


def test_cached_features_refuse_an_image_network_and_a_mix_layer(tiny_config):
    with pytest.raises(TextsslError, match="model.mix_layer"):
        tiny_config("model.cached_features=true", "model.mix_layer=1")
    with pytest.raises(TextsslError, match="model.standardise_features"):
        tiny_config("model.standardise_features=false")
    with pytest.raises(TextsslError, match="image network"):
        build_backbone(ModelConfig(name="small-cnn", cached_features=True), ["a", "b"], ["image", "label"])


@pytest.mark.parametrize("noise", ["model.feature_dropout=0.3", "model.feature_noise=0.5"])
def test_feature_noise_acts_in_training_only_and_gives_the_pi_model_two_different_passes(tiny_config, noise):
    quiet = build_run(tiny_config("model.cached_features=true", "algorithm.name=pi_model"))
    noisy = build_run(tiny_config("model.cached_features=true", "algorithm.name=pi_model", noise))
    rows = noisy.task.data.labelled[:8]
    batch = noisy.trainer.backbone.collate({key: rows[key] for key in ("features", "label")})
    for run in (quiet, noisy):
        run.trainer.backbone.train()
    assert torch.equal(quiet.trainer.backbone(batch), quiet.trainer.backbone(batch))
    assert not torch.allclose(noisy.trainer.backbone(batch), noisy.trainer.backbone(batch))
    noisy.trainer.backbone.eval()
    assert torch.equal(noisy.trainer.backbone(batch), noisy.trainer.backbone(batch))
    noisy.trainer.backbone.train()
    quiet_loss = quiet.trainer.step(0)["loss/unsupervised"]
    assert quiet_loss == 0.0 and noisy.trainer.step(0)["loss/unsupervised"] > 0.0
    with pytest.raises(TextsslError, match="model.feature_dropout and model.feature_noise"):
        tiny_config(noise)
