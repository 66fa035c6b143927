"""`textssl push RUN --repo-id NAME`: a trained model to the Hugging Face Hub, with a model card.

The folder uploaded, which `--dry-run` writes and uploads nothing: the model folder
(safetensors weights, the label names in its config.json, the tokenizer of a text model),
`textssl_recipe.yaml` (the run's resolved recipe), `metrics.json`, the dev-accuracy figure
of `textssl report`, and `README.md`, a model card made with `huggingface_hub.ModelCard`. A
head over cached features carries its frozen encoder in `encoder/`. The upload is one
commit, so the Hub never holds half of it. The token is wherever huggingface_hub looks for
it (`HF_TOKEN`, `hf auth login`); textssl only asks whether there is one, and never prints,
logs or writes it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData, get_token
from huggingface_hub.errors import HfHubHTTPError, HTTPError, LocalTokenNotFoundError

from textssl.errors import TextsslError
from textssl.inference import model_folder, run_config
from textssl.models import Classifier, saved_backbone_class
from textssl.models.base import saved_label_names
from textssl.report import write_report

NO_TOKEN = "push: no Hugging Face token; run `hf auth login` or set HF_TOKEN"
HUB_DATASETS = {"rotten_tomatoes": "cornell-movie-review-data/rotten_tomatoes",
                "fashion_mnist": "zalando-datasets/fashion_mnist"}


def source(prior: dict) -> str:
    """Where the card's pool prior came from, in words."""
    if prior["estimator"] == "given":
        return "given"
    pooled = f", pooled with {prior['observed']:,} labels drawn at random" if prior.get("observed") else ""
    return f"estimated by {prior['estimator'].upper()} from the model's predictions{pooled}"


def rule(prior: dict) -> str:
    """The card's decision rule, in words."""
    decision = prior.get("decision", "shares")  # a run from before the rules were recorded used `shares`
    within = (f", each class's predicted share within {100 * prior['tolerance']:g} points of the pool's"
              if decision == "bounded" else "")
    return f"the `{decision}` rule{within}"


def model_card(repo_id: str, config: dict, metrics: dict, kind: type[Classifier], labels: list[str],
               figure: str | None) -> ModelCard:
    data, algorithm, train = config["data"], config["algorithm"]["name"], config["train"]
    dataset_id = HUB_DATASETS.get(data["dataset"])
    task = kind.pipeline_tag()
    results = [EvalResult(task_type=task, dataset_type=dataset_id or data["dataset"], dataset_name=data["dataset"],
                          dataset_split=split, metric_type=metric, metric_name=title,
                          metric_value=round(metrics[split][name], 4))
               for split in ("dev", "test") if split in metrics
               for metric, title, name in (("accuracy", "accuracy", "accuracy"), ("f1", "macro-F1", "macro_f1"))]
    card_data = ModelCardData(
        model_name=repo_id, library_name=kind.library_name, pipeline_tag=task,
        base_model=kind.base_model(config["model"]["name"]),
        datasets=[dataset_id] if dataset_id else None, metrics=["accuracy", "f1"], eval_results=results,
        tags=["textssl", "semi-supervised", algorithm])
    counts = (f"{metrics['num_labelled']:,} labelled and {metrics['num_unlabelled']:,} unlabelled examples"
              if "num_labelled" in metrics else "its labelled and unlabelled examples")
    rows = "\n".join(f"| {split} | {metrics[split]['accuracy']:.4f} | {metrics[split]['macro_f1']:.4f} |"
                     for split in ("dev", "test") if split in metrics)
    steps = (f"{train['max_steps']} of {train['batch_size']} labelled examples (and {train['uratio']} unlabelled "
             f"per labelled one); the best step on dev: {metrics.get('best_step', '-')}")
    prior = metrics.get("prior")
    decision = (f"- Decision rule: moved from the labelled draw's class shares to the unlabelled pool's, "
                f"{', '.join(f'{name} {share:.3f}' for name, share in zip(labels, prior['pool_prior']))} "
                f"({source(prior)}; {rule(prior)}; "
                f"folded into the output layer, so every loader applies it; `prior.json`)\n" if prior else "")
    taught_by = config["algorithm"].get("teacher")
    teacher = f"; taught by the model of `{taught_by}` over the unlabelled examples" if taught_by else ""
    body = f"""
# {repo_id}

A {kind.input_column} classifier into {', '.join(f'`{name}`' for name in labels)}, trained
with textssl's semi-supervised `{algorithm}` method on `{data['dataset']}` from {counts}.

## Training

- Method: `{algorithm}`; model: `{config['model']['name']}`{kind.card_note}{teacher}
- Steps: {steps}
{decision}- The run's resolved recipe, every setting included, is `textssl_recipe.yaml` in this repository.

## Results

| split | accuracy | macro-F1 |
|---|---|---|
{rows}
{f'{chr(10)}![Dev accuracy and macro-F1 over training]({figure}){chr(10)}' if figure else ''}
## Use

```python
{kind.usage(repo_id)}
```
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")


def build_upload(run: str | Path, repo_id: str, out: Path) -> Path:
    """Write into `out` exactly what `push` uploads."""
    run, folder = Path(run), model_folder(run)
    config = run_config(run)
    metrics_file = folder.parent / "metrics.json"
    if config is None or not metrics_file.is_file():
        raise TextsslError(f"{run}: push takes a finished run folder (with config.yaml and metrics.json)")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(folder, out)
    saved = json.loads((out / "config.json").read_text())
    kind = saved_backbone_class(saved)
    kind.export(out, saved)
    (out / "textssl_recipe.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(metrics_file, out / "metrics.json")
    figure = None
    if (folder.parent / "metrics.jsonl").is_file():
        write_report(folder.parent)
        if (folder.parent / "report_dev.png").is_file():
            figure = "report_dev.png"
            shutil.copy(folder.parent / figure, out / figure)
    model_card(repo_id, config, json.loads(metrics_file.read_text()), kind, saved_label_names(saved),
               figure).save(out / "README.md")
    return out


def push(run: str | Path, repo_id: str, private: bool = False, dry_run: bool = False,
         out: Path | None = None) -> str:
    """Upload the run (or with `dry_run` only write the folder); one line saying what was done."""
    if dry_run:
        folder = build_upload(run, repo_id, out or Path(run) / "hub_upload")
        return f"dry run: wrote {folder} ({len(list(folder.rglob('*')))} files); nothing uploaded"
    with tempfile.TemporaryDirectory() as temporary:
        folder = build_upload(run, repo_id, Path(temporary) / "upload")
        api = HfApi()
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Upload a textssl model")
        except LocalTokenNotFoundError:
            raise TextsslError(NO_TOKEN) from None
        except HfHubHTTPError as error:
            status = error.response.status_code if error.response is not None else None
            if status == 401 and get_token() is None:
                raise TextsslError(NO_TOKEN) from None
            if status == 401:
                raise TextsslError("push: the Hub refused the token (401); run `hf auth login` again") from None
            if status in (403, 409):
                raise TextsslError(f"push: this token may not write to {repo_id!r} ({status}); it may belong to "
                                   f"someone else: choose a repo id under your own name") from None
            raise TextsslError(f"push: the Hub answered {status}; nothing was uploaded") from None
        except (HTTPError, OSError) as error:  # the network: no answer from the Hub at all
            raise TextsslError(f"push: could not reach the Hub ({type(error).__name__}); nothing was uploaded") from None
    return f"pushed {repo_id}: {url}"
