"""`textssl push`: the folder and model card it uploads, and the failures a user meets, with
huggingface_hub's calls intercepted (no network)."""

from pathlib import Path

import httpx2
import pytest
import yaml
from huggingface_hub import HfApi, ModelCard

from textssl.errors import TextsslError
from textssl.inference import load_classifier, probabilities
from textssl.push import build_upload, push, source
from textssl.run import run as train

REPO = "someone/tiny-sentiment"
ROOT = Path(__file__).parents[1]


@pytest.fixture
def text_run(tiny_config):
    config = tiny_config("train.max_steps=20", "train.eval_every=10", "train.save_every=10",
                         "data.class_prior=[0.4,0.6]")  # a known pool prior: the decision moves, the card says so
    return config.output_dir, train(config)


@pytest.mark.slow
def test_dry_run_writes_the_model_recipe_metrics_and_a_card_and_the_folder_loads_back(text_run, tmp_path):
    run, metrics = text_run
    message = push(run, REPO, dry_run=True, out=tmp_path / "upload")
    assert message.startswith(f"dry run: wrote {tmp_path / 'upload'}") and message.endswith("nothing uploaded")
    folder = tmp_path / "upload"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "textssl_recipe.yaml", "metrics.json",
                 "README.md", "report_dev.png"):
        assert (folder / name).is_file(), name
    assert yaml.safe_load((folder / "textssl_recipe.yaml").read_text()) == yaml.safe_load((run / "config.yaml").read_text())
    card = ModelCard.load(folder / "README.md")
    assert (card.data.library_name, card.data.pipeline_tag) == ("transformers", "text-classification")
    test_result = next(result for result in card.data.eval_results
                       if result.dataset_split == "test" and result.metric_type == "accuracy")
    assert test_result.metric_value == round(metrics["test"]["accuracy"], 4)
    assert f'pipeline("text-classification", model="{REPO}")' in card.text
    assert (folder / "prior.json").is_file() and "- Decision rule: moved from the labelled draw's" in card.text
    assert "the `bounded` rule, each class's predicted share within 3 points of the pool's" in card.text
    texts = ["a warm and funny film", "dull, long and badly acted"]
    assert probabilities(load_classifier(folder), texts, progress=False) == pytest.approx(
        probabilities(load_classifier(run), texts, progress=False))


@pytest.mark.slow
def test_push_uploads_the_dry_run_folder_in_one_commit(text_run, tmp_path, monkeypatch):
    run, _ = text_run
    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw))
                        or f"https://huggingface.co/{repo_id}")

    def upload_folder(self, repo_id, folder_path, **kw):
        calls.append(("upload", repo_id, sorted(path.name for path in folder_path.rglob("*"))))

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    assert push(run, REPO, private=True) == f"pushed {REPO}: https://huggingface.co/{REPO}"
    build_upload(run, REPO, tmp_path / "dry")
    assert calls == [("create", REPO, {"private": True, "exist_ok": True}),
                     ("upload", REPO, sorted(path.name for path in (tmp_path / "dry").rglob("*")))]


@pytest.fixture
def hub(monkeypatch):
    """A stand-in for the Hub at the HTTP layer: every request huggingface_hub sends gets `answer`
    (a status code, or an exception such as the network being down)."""
    import huggingface_hub

    requests = []

    def serve(answer):
        def handler(request):
            requests.append((request.method, request.url.path, "authorization" in request.headers))
            if isinstance(answer, Exception):
                raise answer
            return httpx2.Response(answer, json={"error": "stand-in"})

        huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handler)))
        return requests

    yield serve
    huggingface_hub.set_client_factory(huggingface_hub.utils._http.default_client_factory)


@pytest.mark.slow
@pytest.mark.parametrize("token, answer, message", [
    (None, 401, "no Hugging Face token; run `hf auth login` or set HF_TOKEN"),
    ("hf_stale", 401, "the Hub refused the token (401)"),
    ("hf_valid", 403, f"this token may not write to '{REPO}' (403); it may belong to someone else"),
    ("hf_valid", httpx2.ConnectError("connection refused"), "could not reach the Hub (ConnectError); nothing was uploaded"),
])
def test_each_failure_is_one_clear_line_and_nothing_is_reported_done(text_run, hub, monkeypatch, capsys, token,
                                                                    answer, message):
    run, _ = text_run
    monkeypatch.setenv("HF_HOME", str(run.parent / "hf_home"))  # no token saved by `hf auth login`
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    else:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    requests = hub(answer)
    with pytest.raises(TextsslError) as raised:
        push(run, REPO)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert ("POST", "/api/repos/create", token is not None) in requests
    assert not any(path.startswith(f"/api/models/{REPO}/commit") for _, path, _ in requests)
    if token:
        assert token not in str(raised.value) + "".join(capsys.readouterr())


def test_a_failed_upload_after_the_repo_exists_is_not_reported_done(text_run, monkeypatch):
    run, _ = text_run
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: f"https://huggingface.co/{repo_id}")

    def upload_folder(self, **kw):
        raise httpx2.ConnectError("connection reset")

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    with pytest.raises(TextsslError, match="could not reach the Hub"):
        push(run, REPO)


@pytest.mark.slow
def test_the_command_line_dry_run(text_run, tmp_path, capsys):
    from textssl.cli import main

    run, _ = text_run
    main(["push", str(run), "--repo-id", REPO, "--dry-run", "--out", str(tmp_path / "upload")])
    assert capsys.readouterr().out.startswith(f"dry run: wrote {tmp_path / 'upload'}")
    assert (tmp_path / "upload" / "README.md").is_file()


@pytest.mark.slow
def test_an_image_run_pushes_and_its_folder_loads_back(tmp_path):
    import numpy as np
    from sklearn.datasets import load_digits

    from textssl.recipe import load_config

    config = load_config(ROOT / "recipes/image/supervised.yaml",
                         ["data.dataset=digits", f"train.output_dir={tmp_path / 'run'}", "train.max_steps=20",
                          "train.eval_every=10", "train.save_every=10", "train.progress_bar=false"])
    train(config)
    folder = build_upload(tmp_path / "run", REPO, tmp_path / "upload")
    card = ModelCard.load(folder / "README.md")
    assert (card.data.library_name, card.data.pipeline_tag) == ("textssl", "image-classification")
    assert "textssl.load(snapshot_download" in card.text
    images = np.round(load_digits().images[:8] * (255 / 16)).astype(np.uint8)[:, None]
    assert probabilities(load_classifier(folder), list(images), progress=False) == pytest.approx(
        probabilities(load_classifier(tmp_path / "run"), list(images), progress=False))


def test_the_card_says_where_the_pool_prior_came_from():
    assert source({"estimator": "given"}) == "given"
    assert source({"estimator": "em", "observed": 361}) == ("estimated by EM from the model's predictions, pooled "
                                                            "with 361 labels drawn at random")
    assert source({"estimator": "bbse"}) == "estimated by BBSE from the model's predictions"  # a prior.json from before
