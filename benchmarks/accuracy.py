"""Accuracy of recipes over seeds (and optional override grids), resumable.

Every run is `textssl train RECIPE train.seed=S [overrides]` in its own process; its result
is appended to a JSON-lines file, and a run whose key is already there is skipped, so the
harness can be stopped and started again across sittings. Runs use a GPU when the machine
has one (accelerate picks it). After every run it writes, next to the results as .md, a
table of every result in the file: test accuracy and macro-F1, mean ± std over seeds, and
the largest share of one predicted class (collapse shows there). Every run reports two test
figures: the model of the step best on dev, and the final step's (no selection: a user with 20
labels has no dev set). With `--speed-texts N` the trained model also labels N test texts
with an empty feature cache (`texts_per_second`). A result is keyed by the
recipe's name, the seed and the overrides, not by the recipe's contents: after changing a
recipe, start a new results file. A run folder left by a killed run is resumed only when
the code has not changed since (its commit is written beside it); otherwise the run starts
over. `--jobs N` runs N at a time (on CPU each gets its share of the cores).

    python benchmarks/accuracy.py recipes/text/supervised.yaml --seeds 0 1 2 \
        --grid data.labels_per_class=10,50 --results benchmarks/results/baselines.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml

from textssl.cache import cache_dir
from textssl.config import DataConfig
from textssl.data import load_splits
from textssl.inference import load_classifier, probabilities, run_config
from textssl.recipe import load_config
from textssl.run import rounds


def run_key(recipe: str, seed: int, overrides: tuple[str, ...]) -> str:
    return " ".join([Path(recipe).stem, f"seed={seed}", *overrides])


def taught_by(teacher_recipe: str, seed: int, overrides: tuple[str, ...], out_root: Path) -> str:
    """The override that makes a run's teacher the run of `teacher_recipe` with the same seed and
    overrides (e.g. a noisy student taught by the head of its seed and prior)."""
    return f"algorithm.teacher={out_root / run_folder_name(run_key(teacher_recipe, seed, overrides), seed)}"


def code_version() -> str:
    """The commit of the code under test, with `-dirty` for uncommitted changes ("" outside git)."""
    found = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent,
                           capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else ""


NAME_LIMIT = 240
"""File systems take 255 bytes per name."""


def for_seed(override: str, seed: int) -> str:
    """`{seed}` in an override becomes the run's seed, e.g. a per-seed pretrained encoder:
    ``model.name=pretrained/labelled_pairs-rotten_tomatoes-seed{seed}/model``."""
    return override.replace("{seed}", str(seed))


def run_folder_name(key: str, seed: int) -> str:
    """One folder name per run, `{seed}` filled in (a later run may name it as its teacher):
    ``pseudo_label seed=1 model.name=pretrained/pairs-seed{seed}/model`` →
    ``pseudo_label_seed-1_model.name-pretrained+pairs-seed1+model``; past `NAME_LIMIT`
    characters, cut there and told apart by a hash of the whole name."""
    name = for_seed(key, seed).replace(" ", "_").replace("=", "-").replace("/", "+")
    if len(name) <= NAME_LIMIT:
        return name
    return f"{name[:NAME_LIMIT - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def load_results(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    return {row["key"]: row for row in map(json.loads, path.read_text().splitlines()) if row}


@contextmanager
def empty_feature_cache() -> Iterator[None]:
    """`TEXTSSL_CACHE` pointed, for the block, at a folder holding the built-in models and datasets
    but no encoded features: a head over cached features must then encode every text it labels."""
    real = cache_dir()
    with tempfile.TemporaryDirectory() as folder:
        for shared in ("models", "datasets"):
            if (real / shared).is_dir():
                (Path(folder) / shared).symlink_to(real / shared)
        before = os.environ.get("TEXTSSL_CACHE")
        os.environ["TEXTSSL_CACHE"] = folder
        try:
            yield
        finally:
            if before is None:
                del os.environ["TEXTSSL_CACHE"]
            else:
                os.environ["TEXTSSL_CACHE"] = before


def texts_per_second(load: Callable[[], Callable[[list[str]], object]], texts: list[str]) -> float:
    """How many of `texts` a second the predictor `load()` returns labels, encoding included."""
    with empty_feature_cache():
        predict = load()
        started = time.perf_counter()
        predict(texts)
        return round(len(texts) / (time.perf_counter() - started), 1)


def run_predictor(folder: Path) -> Callable[[list[str]], object]:
    model = load_classifier(folder)
    return lambda texts: probabilities(model, texts, progress=False)


def pretraining_of(folder: str) -> dict | None:
    """What `textssl pretrain` recorded beside the encoder it wrote; None for any other model."""
    about = Path(folder) / "textssl_pretrain.json"
    return json.loads(about.read_text()) if about.is_file() else None


def body_of(name: str) -> str:
    """The built-in body under a model name: the name itself, or for a folder textssl wrote the
    body it started from (a pretrained encoder's base, a run's model)."""
    pretraining = pretraining_of(name)
    if pretraining:
        return body_of(pretraining["base_model"])
    config = run_config(name) if Path(name).is_dir() else None
    return body_of(config["model"]["name"]) if config else name


def teacher_of(teacher: str) -> str | None:
    """`body/method` of a teacher run (e.g. `mpnet-base/supervised`), None without a teacher;
    `setfit_` marks a method run over a SetFit-stage encoder."""
    if not teacher:
        return None
    taught = run_config(teacher)
    if taught is None:  # a saved model without its run
        return body_of(teacher)
    setfit = (pretraining_of(taught["model"]["name"]) or {}).get("objective") == "labelled_pairs"
    return f"{body_of(taught['model']['name'])}/{'setfit_' if setfit else ''}{taught['algorithm']['name']}"


def speed_sample(dataset: str, count: int) -> list[str]:
    """The first `count` test texts of a dataset, for `texts_per_second`."""
    return list(load_splits(DataConfig(dataset=dataset))["test"]["text"][:count])


def run_one(recipe: str, seed: int, overrides: tuple[str, ...], out_root: Path, extra: list[str],
            threads: int, speed_texts: int = 0) -> dict:
    key = run_key(recipe, seed, overrides)
    output_dir = out_root / run_folder_name(key, seed)
    version, version_file = code_version(), output_dir / "benchmark_code_version"
    # a folder left by other code would be resumed into a run that no code produced
    same_code = version and version_file.is_file() and version_file.read_text() == version
    output_dir.mkdir(parents=True, exist_ok=True)
    version_file.write_text(version)
    arguments = [f"train.seed={seed}", f"train.output_dir={output_dir}", "train.progress_bar=false",
                 *(for_seed(item, seed) for item in [*overrides, *extra]),
                 *([] if same_code else ["train.resume=false"])]
    command = [sys.executable, "-m", "textssl", "train", recipe, *arguments]
    started = time.time()
    subprocess.run(command, check=True, env={"OMP_NUM_THREADS": str(threads), **os.environ})
    seconds = round(time.time() - started, 1)
    # a method trained in rounds: the row is the last round's, taught first by the first round's teacher
    planned = rounds(load_config(recipe, arguments))
    teacher = teacher_of(getattr(planned[0].algorithm, "teacher", ""))
    output_dir = planned[-1].output_dir
    config = yaml.safe_load((output_dir / "config.yaml").read_text())
    metrics = json.loads((output_dir / "metrics.json").read_text())
    speed = ({"texts_per_second": texts_per_second(lambda: run_predictor(output_dir / "model"),
                                                    speed_sample(config["data"]["dataset"], speed_texts))}
             if speed_texts else {})
    data = config["data"]
    return {"key": key, "recipe": Path(recipe).stem, "seed": seed, "overrides": list(overrides),
            "dataset": data["dataset"], "labels_per_class": data["labels_per_class"],
            "method": config["algorithm"]["name"], "model": body_of(config["model"]["name"]),
            **({"teacher": teacher} if teacher else {}), **protocol(data, metrics),
            "test_accuracy": metrics["test"]["accuracy"], "test_macro_f1": metrics["test"]["macro_f1"],
            "test_accuracy_final": metrics["test_final"]["accuracy"],
            "test_macro_f1_final": metrics["test_final"]["macro_f1"], **speed, "steps": metrics["max_steps"],
            "seconds": seconds, "train_steps_per_second": metrics["train_steps_per_second"],
            "test": metrics["test"], "dev": metrics["dev"], "best_step": metrics["best_step"],
            "command": " ".join(command[1:])}


def protocol(data: dict, metrics: dict) -> dict:
    """How a run drew its labels and decided, beside the pool's true class shares (label order):
    `draw` per_class | random, `prior` labelled | estimated (the decision rule's), `decision` the
    rule that moves it (`data.prior_decision`; rows without the field were measured under
    `shares`), `selection` dev_all | dev_N (how the step of `test_accuracy` was chosen; the
    `_final` figures are the final step's), each class's share of the test predictions, and, when
    the decision moved to the pool's prior, the same run's test metrics with the labelled prior."""
    train = load_splits(DataConfig(**data))["train"]
    counts = np.bincount(np.asarray(train["label"]), minlength=train.features["label"].num_classes)
    return {"pool_prior": [round(float(share), 4) for share in counts / counts.sum()],
            "draw": "per_class" if data["labels_per_class"] is not None else "random",
            "num_labels": metrics["num_labelled"],
            "prior": "estimated" if metrics.get("prior") else "labelled",
            "decision": data.get("prior_decision", "shares"),
            "selection": f"dev_{data['dev_per_class']}" if data.get("dev_per_class") else "dev_all",
            "predicted_share": metrics["test"]["predicted_share"],
            "predicted_share_final": metrics["test_final"]["predicted_share"],
            "test_labelled_prior": metrics.get("test_labelled_prior"),
            "test_final_labelled_prior": metrics.get("test_final_labelled_prior")}


DATA_OVERRIDES = ("data.dataset=", "data.labels_per_class=")


def table(rows: list[dict], baseline: str = "supervised") -> str:
    """Mean ± std over seeds per run, and the accuracy gain over `baseline` paired by seed
    (the labelled examples a seed draws move every method alike, so the paired gain is the
    sharper comparison)."""
    groups: dict[tuple, dict[int, dict]] = {}
    for row in rows:
        groups.setdefault((row["recipe"], *row["overrides"]), {})[row["seed"]] = row

    def spread(values: list[float], sign: str = "") -> str:
        mean = f"{statistics.mean(values):{sign}.3f}"
        return f"{mean} ± {statistics.stdev(values):.3f}" if len(values) > 1 else mean

    def data_of(key: tuple) -> tuple:
        row = next(iter(groups[key].values()))
        return row.get("dataset"), row.get("labels_per_class")

    def same_data(one: tuple, other: tuple) -> bool:
        # rows from before `dataset` and `labels_per_class` were recorded match any
        return all(a == b or None in (a, b) for a, b in zip(one, other))

    def settings(key: tuple) -> set[str]:
        """The overrides beyond the data a row records (a key may spell those out or not)."""
        recorded = None not in data_of(key)
        return {item for item in key[1:] if not (recorded and item.startswith(DATA_OVERRIDES))}

    def baseline_of(recipe: str, overrides: list[str]) -> dict[int, dict]:
        """The `baseline` run on the same data with the most of these overrides (a baseline
        row with an extra override, e.g. a control, is compared with the plain baseline)."""
        key = (recipe, *overrides)
        candidates = [other for other in groups if other[0] == baseline and other != key
                      and settings(other) <= settings(key) and same_data(data_of(other), data_of(key))]
        return groups[max(candidates, key=len)] if candidates else {}

    def gain(members: dict[int, dict], reference: dict[int, dict]) -> str:
        seeds = sorted(set(members) & set(reference))
        if not seeds:
            return "—"
        return spread([members[s]["test"]["accuracy"] - reference[s]["test"]["accuracy"] for s in seeds], sign="+")

    def step_time_ratio(members: dict[int, dict], reference: dict[int, dict]) -> str:
        ratios = [reference[s]["train_steps_per_second"] / members[s]["train_steps_per_second"]
                  for s in sorted(set(members) & set(reference))
                  if "train_steps_per_second" in members[s] and "train_steps_per_second" in reference[s]]
        if not ratios:
            return "—"
        ratio = statistics.mean(ratios)
        return f"{ratio:.1f}×" if ratio >= 0.1 else f"{ratio:.2g}×"  # cached-feature steps take ~1/40 of one

    def figure(ordered: list[dict], field: str) -> str:
        values = [m[field] for m in ordered if field in m]
        return spread(values) if len(values) == len(ordered) else "—"

    def speed(ordered: list[dict]) -> str:
        values = [m["texts_per_second"] for m in ordered if "texts_per_second" in m]
        return f"{statistics.mean(values):,.0f}" if values else "—"

    lines = [f"| run | seeds | test accuracy | final step | test macro-F1 | final step | largest predicted class "
             f"| accuracy gain over {baseline}, paired by seed | time per step / {baseline} | texts/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (recipe, *overrides), members in groups.items():
        seeds = sorted(members)
        ordered = [members[seed] for seed in seeds]
        reference = baseline_of(recipe, overrides)
        lines.append(f"| {' '.join([recipe, *overrides])} | {','.join(map(str, seeds))} "
                     f"| {spread([m['test']['accuracy'] for m in ordered])} | {figure(ordered, 'test_accuracy_final')} "
                     f"| {spread([m['test']['macro_f1'] for m in ordered])} | {figure(ordered, 'test_macro_f1_final')} "
                     f"| {max(m['test']['majority_share'] for m in ordered):.3f} "
                     f"| {gain(members, reference)} | {step_time_ratio(members, reference)} | {speed(ordered)} |")
    return "\n".join(lines)


def protocol_table(rows: list[dict]) -> str:
    """Per run recording its protocol: how its labels were drawn, which prior it decided with
    (with its count of seeds where the guard made them differ), how its step was chosen, and each
    class's mean share of its test predictions beside the pool's true shares (label order)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if "pool_prior" in row:
            groups.setdefault((row["recipe"], *row["overrides"]), []).append(row)

    def shares(members: list[dict], field: str) -> str:
        return " / ".join(f"{share:.2f}" for share in np.mean([m[field] for m in members], axis=0))

    def priors(members: list[dict]) -> str:
        counts = Counter(m["prior"] for m in members)
        return next(iter(counts)) if len(counts) == 1 else ", ".join(f"{prior} ({n})" for prior, n in sorted(counts.items()))

    lines = ["| run | seeds | draw | prior | selection | pool's shares | predicted, selected step | predicted, final step |",
             "|---|---|---|---|---|---|---|---|"]
    for (recipe, *overrides), members in groups.items():
        first = members[0]
        lines.append(f"| {' '.join([recipe, *overrides])} | {','.join(str(m['seed']) for m in members)} "
                     f"| {first['draw']} | {priors(members)} | {first['selection']} "
                     f"| {' / '.join(f'{share:.2f}' for share in first['pool_prior'])} "
                     f"| {shares(members, 'predicted_share')} | {shares(members, 'predicted_share_final')} |")
    return "\n".join(lines)


def prior_table(rows: list[dict]) -> str:
    """Per run deciding with the pool's estimated prior (`data.prior=estimated`): on how many
    seeds the decision moved, its test accuracy and macro-F1 beside the labelled prior's, paired
    by seed, at the selected and at the final step, against the majority rate (and on how many
    seeds the selected step reaches it); and how far the predicted shares fell from the pool's
    (mean and worst, over classes and seeds). The labelled prior's side is the run with
    `data.prior=labelled` and otherwise the same where the file has it (alignment, too, follows
    `data.prior`), else the same models decided with the labelled draw's prior (a seed whose
    estimate was kept out counts as no change)."""
    groups: dict[tuple, dict[int, dict]] = {}
    for row in rows:
        groups.setdefault((row["recipe"], *row["overrides"]), {})[row["seed"]] = row

    lines = ["| run | seeds | moved | labelled side | majority rate | seeds at or above it | accuracy, pool's prior "
             "| labelled prior | gain | macro-F1, pool's prior | labelled prior | gain | final step: accuracy "
             "| labelled prior | gain | predicted shares off the pool's (mean / worst) | final step |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, by_seed in groups.items():
        if "data.prior=estimated" not in key:
            continue
        partner = groups.get(tuple(item.replace("data.prior=estimated", "data.prior=labelled") for item in key), {})
        members = [by_seed[seed] for seed in sorted(by_seed)]

        def labelled(row: dict, suffix: str, metric: str) -> float:
            if row["seed"] in partner:
                return partner[row["seed"]][f"test_{metric}{suffix}"]
            return (row[f"test{suffix}_labelled_prior"] or {}).get(metric, row[f"test_{metric}{suffix}"])

        def paired(suffix: str, metric: str) -> str:
            moved = [m[f"test_{metric}{suffix}"] for m in members]
            kept = [labelled(m, suffix, metric) for m in members]
            gain = statistics.mean(a - b for a, b in zip(moved, kept))
            return f"{statistics.mean(moved):.3f} | {statistics.mean(kept):.3f} | {gain:+.3f}"

        def off(field: str) -> str:
            gaps = [max(abs(a - b) for a, b in zip(m[field], m["pool_prior"])) for m in members]
            return f"{statistics.mean(gaps):.3f} / {max(gaps):.3f}"

        side = "its own run" if all(m["seed"] in partner for m in members) else "the same models"
        majority = max(members[0]["pool_prior"])
        lines.append(f"| {' '.join(key)} | {','.join(str(m['seed']) for m in members)} "
                     f"| {sum(m['prior'] == 'estimated' for m in members)} | {side} | {majority:.3f} "
                     f"| {sum(m['test_accuracy'] >= majority for m in members)}/{len(members)} "
                     f"| {paired('', 'accuracy')} | {paired('', 'macro_f1')} "
                     f"| {paired('_final', 'accuracy')} | {off('predicted_share')} | {off('predicted_share_final')} |")
    return "\n".join(lines)


def report(rows: list[dict]) -> str:
    """The results file's table against `supervised`, and against `setfit` when a row is SetFit,
    the protocol table when rows record one, and the prior table when runs estimate the pool's
    prior: every harness writing to one file writes the same report."""
    baselines = ["supervised"] + (["setfit"] if any(row["recipe"] == "setfit" for row in rows) else [])
    tables = [table(rows, baseline) for baseline in baselines]
    if any("pool_prior" in row for row in rows):
        tables.append(protocol_table(rows))
    if any("data.prior=estimated" in row["overrides"] for row in rows):
        tables.append(prior_table(rows))
    return "\n\n".join(tables)


def accuracy_figure(rows: list[dict]):
    """One panel per dataset and label count: each run's test accuracy, mean ± std over seeds
    as a bar, every seed as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    panels: dict[tuple, dict[str, list[float]]] = {}
    for row in rows:
        spelled = dict(item.split("=", 1) for item in row["overrides"] if item.startswith(DATA_OVERRIDES))
        panel = (row.get("dataset") or spelled.get("data.dataset", "the recipe's dataset"),
                 row.get("labels_per_class") or spelled.get("data.labels_per_class", "the recipe's"))
        name = " ".join([row["recipe"], *(item.split(".", 1)[-1] for item in row["overrides"]
                                          if not item.startswith(DATA_OVERRIDES))])
        name = textwrap.fill(name, 70)
        panels.setdefault(panel, {}).setdefault(name, []).append(row["test"]["accuracy"])
    figure, axes = pyplot.subplots(len(panels), 1, squeeze=False,
                                   figsize=(12, sum(0.35 * len(runs) + 1 for runs in panels.values())),
                                   gridspec_kw={"height_ratios": [len(runs) + 2 for runs in panels.values()]})
    for axis, ((dataset, per_class), runs) in zip(axes[:, 0], sorted(panels.items(), key=str)):
        names = sorted(runs, key=lambda name: statistics.mean(runs[name]))
        means = [statistics.mean(runs[name]) for name in names]
        spreads = [statistics.stdev(runs[name]) if len(runs[name]) > 1 else 0.0 for name in names]
        axis.barh(names, means, xerr=spreads, color="tab:blue", alpha=0.5, capsize=3)
        for y, name in enumerate(names):
            axis.plot(runs[name], [y] * len(runs[name]), "k.", markersize=4)
        axis.set(title=f"{dataset}, {per_class} labels per class", xlabel="test accuracy",
                 xlim=(min(min(r) for r in runs.values()) - 0.05, max(max(r) for r in runs.values()) + 0.02))
        axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    return figure


def grid_axis(item: str) -> list[str]:
    """``section.key=v1,v2`` → one override per value; commas inside brackets stay in a value
    (``views.augment=[randaugment:n=2,m=5],[randaugment:n=1]`` has two)."""
    key, _, values = item.partition("=")
    parts, depth, current = [], 0, ""
    for char in values:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [f"{key}={value}" for value in [*parts, current]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", nargs="*", default=[], help="section.key=v1,v2 ... (every combination is run)")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/accuracy.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"), help="run folders")
    parser.add_argument("--extra", nargs="*", default=[],
                        help="overrides applied to every run, not part of its key ({seed}: the run's seed)")
    parser.add_argument("--teacher", metavar="RECIPE",
                        help="each run is taught by RECIPE's run of the same seed and grid in --out "
                             "(algorithm.teacher; not part of the key)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--dev-per-class", type=int, default=None,
                        help="choose the best step on N dev examples per class (data.dev_per_class; part of the key)")
    parser.add_argument("--speed-texts", type=int, default=0,
                        help="time the trained model on this many test texts, empty feature cache (texts_per_second)")
    args = parser.parse_args()

    axes = [grid_axis(item) for item in args.grid]
    if args.dev_per_class is not None:
        axes.append([f"data.dev_per_class={args.dev_per_class}"])
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = load_results(args.results)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    lock = threading.Lock()

    def run_and_record(recipe: str, seed: int, overrides: tuple[str, ...]) -> None:
        print(f"run: {run_key(recipe, seed, overrides)}", flush=True)
        extra = [*args.extra, *([taught_by(args.teacher, seed, overrides, args.out)] if args.teacher else [])]
        row = run_one(recipe, seed, overrides, args.out, extra, threads, args.speed_texts)
        with lock:
            with args.results.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            done[row["key"]] = row
            args.results.with_suffix(".md").write_text(report(list(done.values())) + "\n")

    # seeds outermost: a partial sitting still compares every recipe on the same seeds
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = []
        for seed, overrides, recipe in itertools.product(args.seeds, list(itertools.product(*axes)), args.recipes):
            key = run_key(recipe, seed, overrides)
            if key in done:
                print(f"skip (done): {key}", flush=True)
            else:
                runs.append(pool.submit(run_and_record, recipe, seed, overrides))
        for run in runs:
            run.result()
    accuracy_figure(list(done.values())).savefig(args.results.with_suffix(".png"), dpi=100)
    print(report(list(done.values())))


if __name__ == "__main__":
    main()
