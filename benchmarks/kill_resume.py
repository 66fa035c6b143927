"""Kill and resume: `textssl train` and `augment`, SIGKILLed at random moments and rerun with
the same command, against one uninterrupted run of each.

Training: FixMatch (recipes/text/fixmatch.yaml: EMA teacher, distribution alignment) with
TF-IDF strong views computed by the augment library, on a slice of the built-in
rotten_tomatoes (2,000 training reviews, 20 labelled per class; 300 dev, 300 test), with the
2-layer tiny model built from MiniLM's config (as tests/conftest.py's `tiny_model`), 50
steps, a dev evaluation and a checkpoint every 5. The reference runs once, uninterrupted.
Then a fresh output folder and fresh caches (TEXTSSL_CACHE, HF_DATASETS_CACHE) are killed
and resumed with the same command until the run completes; while kills remain, the next
round starts in a fresh folder again. A kill lands either at a moment drawn uniformly over
the reference's wall time (from the attempt's launch), or at a phase seen in the run folder
(`checkpoint/last.partial` present: mid-checkpoint; a train line of a step due for
evaluation logged without its dev line: mid-evaluation; `model.partial`: the best model
being written; a view cache folder being written: the view build; a logged step between
checkpoints: mid-step; the last checkpoint written: the test evaluation). Each completed round
is compared with the reference: `model/*.safetensors` tensor for tensor, bit for bit;
`metrics.json` without its timing fields; `metrics.jsonl` line for line.

augment: `augment rotten_tomatoes --op tfidf --copies 2 --chunk-size 32` (the whole
training pool), once uninterrupted with --workers 1 and with --workers 2, then killed at
moments drawn over the reference's wall time and rerun until it completes; the output must
equal the uninterrupted run's byte for byte.

A kill is SIGKILL to the command's process group (the command and any workers it started),
as a scheduler's preemption or a container stop does.

    python benchmarks/kill_resume.py --kills 20 --seed 0 --results benchmarks/results/kill_resume.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
RECIPE = "recipes/text/fixmatch.yaml"
MAX_STEPS, EVERY = 50, 5
TIMING = {"train_seconds", "train_steps_per_second"}
AIMS = ("checkpoint", "evaluation", "best model", "mid-step", "test evaluation")
POLL = 0.002


@dataclass
class Kill:
    round: int
    aim: str
    moment: float = 0.0
    phase: str = ""
    started_at: int = 0
    reached: int | None = None
    left: int = 0
    """The step of the checkpoint the kill left: the next attempt resumes from it."""


@dataclass
class Round:
    kills: list[Kill] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- set-up


def tiny_model(folder: Path) -> Path:
    """The 2-layer, 64-wide BERT of tests/conftest.py, from MiniLM's config, seeded."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertModel

    from textssl.models.hf import resolve_model_path

    source = resolve_model_path("minilm-l6")
    config = AutoConfig.from_pretrained(source, num_hidden_layers=2, hidden_size=64, num_attention_heads=2,
                                        intermediate_size=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


def data_slice(folder: Path) -> list[str]:
    """CSV slices of the built-in rotten_tomatoes; the data overrides that read them."""
    from augment.io import read_table

    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"train": 2000, "dev": 300, "test": 300}
    for split, size in sizes.items():
        read_table("rotten_tomatoes", split).sample(n=size, random_state=0).to_csv(folder / f"{split}.csv", index=False)
    return [f"data.dataset={folder / 'train.csv'}", f"data.dev_file={folder / 'dev.csv'}",
            f"data.test_file={folder / 'test.csv'}", "data.labels_per_class=20"]


def train_command(data: list[str], model: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "textssl", "train", RECIPE, *data, f"model.name={model}", "views.augment=[tfidf]",
            f"train.max_steps={MAX_STEPS}", f"train.eval_every={EVERY}", f"train.save_every={EVERY}",
            "train.log_every=1", "train.learning_rate=3e-3", "train.eval_batch_size=64", "algorithm.threshold=0.6",
            "train.progress_bar=false", f"train.output_dir={output}"]


def augment_command(out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "augment.cli", "rotten_tomatoes", "--op", "tfidf", "--copies", "2",
            "--chunk-size", "32", "--workers", str(workers), "--quiet", "--out", str(out)]


def environment(cache: Path) -> dict[str, str]:
    """Fresh caches under `cache`; one thread per process, so that a machine shared with other
    work slows the runs down less (every run here, reference included, has the same setting)."""
    return {**os.environ, "TEXTSSL_CACHE": str(cache / "textssl"), "HF_DATASETS_CACHE": str(cache / "hf-datasets"),
            "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def launch(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as handle:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_whole(command: list[str], env: dict[str, str], log: Path, output: Path | None = None) -> tuple[float, float]:
    """Run to completion; the wall time, and when `output` first appeared. A failure stops the benchmark."""
    started, appeared = time.perf_counter(), 0.0
    process = launch(command, env, log)
    while process.poll() is None:
        if output is not None and not appeared and output.exists():
            appeared = time.perf_counter() - started
        time.sleep(POLL)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed; see {log}")
    return time.perf_counter() - started, appeared


# ---------------------------------------------------------------- what the run folder shows


def log_rows(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append({"step": None, "torn": line})
    return rows


def checkpoint_step(run: Path) -> int:
    for name in ("last", "last.old"):  # last.old: killed between the two renames of a checkpoint
        state = run / "checkpoint" / name / "trainer_state.json"
        if state.is_file():
            return json.loads(state.read_text())["step"]
    return 0


def views_cached(cache: Path) -> bool:
    return any((cache / "textssl" / "views").glob("*/key.json"))


def last_train_step(rows: list[dict]) -> int | None:
    steps = [row["step"] for row in rows if any(key.startswith("train/") for key in row)]
    return steps[-1] if steps else None


@dataclass
class Watch:
    """What one attempt can be seen doing: its run folder, caches and output."""

    run: Path
    cache: Path
    log: Path
    log_offset: int = 0
    """Where this attempt's output starts in the shared log file."""
    metrics_inode: int | None = None
    """metrics.jsonl as the attempt found it: a new inode means the attempt reopened it."""
    started_at: int = 0
    launched: float = 0.0
    """time.time() at the launch: a partial folder older than that is a killed attempt's leftover."""

    @classmethod
    def before(cls, run: Path, cache: Path, log: Path) -> Watch:
        metrics = run / "metrics.jsonl"
        return cls(run, cache, log, log.stat().st_size if log.is_file() else 0,
                   metrics.stat().st_ino if metrics.is_file() else None, checkpoint_step(run))

    def writing(self, partial: Path) -> bool:
        """`partial` is being written by this attempt (not left by an earlier, killed one)."""
        try:
            return partial.stat().st_mtime >= self.launched
        except FileNotFoundError:
            return False

    def views_building(self) -> bool:
        views = self.cache / "textssl" / "views"
        return views.is_dir() and any(self.writing(entry) for entry in views.iterdir()
                                      if ".tmp" in entry.name or ".partial" in entry.name)

    def reopened_log(self) -> bool:
        metrics = self.run / "metrics.jsonl"
        return metrics.is_file() and metrics.stat().st_ino != self.metrics_inode

    def output(self) -> str:
        with self.log.open("rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode(errors="replace")


def phase(watch: Watch) -> str:
    """Which part of the run is under way, as its folders show it."""
    run = watch.run
    if watch.views_building():
        return "view cache write"
    if not views_cached(watch.cache):
        return "view build" if "augmenting (" in watch.output() else "start-up, before the view build"
    if watch.writing(run / "checkpoint" / "last.partial"):
        return "checkpoint write"
    if watch.writing(run / "model.partial"):
        return "best-model write"
    if not watch.reopened_log():
        return "start-up (data, model, resume)"
    if checkpoint_step(run) == MAX_STEPS:
        return "test evaluation / metrics.json"
    rows = log_rows(run)
    if rows and "dev/accuracy" not in rows[-1] and rows[-1]["step"] and rows[-1]["step"] % EVERY == 0:
        return "dev evaluation"
    return "training step"


def aimed(aim: str, watch: Watch) -> bool:
    """True once the phase `aim` is under way."""
    run = watch.run
    if aim == "view build":  # its progress bar has started; or at once when it has passed unseen
        return "augmenting (" in watch.output() or views_cached(watch.cache)
    if aim == "checkpoint":
        return watch.writing(run / "checkpoint" / "last.partial")
    if aim == "best model":
        return watch.writing(run / "model.partial")
    if aim == "test evaluation":  # the last checkpoint written, and this attempt past its start-up
        return checkpoint_step(run) == MAX_STEPS and (watch.started_at < MAX_STEPS or watch.reopened_log())
    if not watch.reopened_log():
        return False
    rows = log_rows(run)
    step = rows[-1]["step"] if rows else None
    if aim == "evaluation":
        return step is not None and step > watch.started_at and step % EVERY == 0 and "dev/accuracy" not in rows[-1]
    return step is not None and step > watch.started_at + 1 and step % EVERY in (1, 2, 3)  # mid-step


# ---------------------------------------------------------------- killing


def attempt(command: list[str], env: dict[str, str], watch: Watch, plan: Kill, deadline: float,
            rng: random.Random) -> bool:
    """Launch once and kill as `plan` says; True when the command completed first."""
    plan.started_at, watch.launched = watch.started_at, time.time()
    process = launch(command, env, watch.log)
    started = time.perf_counter()
    while process.poll() is None:
        now = time.perf_counter() - started
        if now >= deadline or (plan.aim in AIMS + ("view build",) and aimed(plan.aim, watch)):
            if plan.aim != "random":
                time.sleep(rng.uniform(0, 0.02))  # somewhere inside the phase, not only at its start
            plan.phase = phase(watch)
            plan.moment = time.perf_counter() - started
            kill(process)
            plan.reached = last_train_step(log_rows(watch.run)) if watch.reopened_log() else None
            plan.left = checkpoint_step(watch.run)
            return False
        time.sleep(POLL)
    if process.returncode != 0:
        raise SystemExit(f"an attempt after a kill failed (exit {process.returncode}); see {watch.log}")
    return True


def training_rounds(kills: int, seed: int, work: Path, reference_seconds: float, data: list[str],
                    model: Path) -> list[Round]:
    """Kill, resume, repeat until the run completes; fresh rounds until `kills` kills have landed."""
    rng = random.Random(seed)
    rounds: list[Round] = []
    landed = 0
    while landed < kills:
        folder = work / f"round{len(rounds)}"
        run, cache, log = folder / "run", folder / "cache", folder / "train.log"
        folder.mkdir(parents=True)
        command, env = train_command(data, model, run), environment(cache)
        current = Round()
        rounds.append(current)
        first = True
        while True:
            if landed < kills:
                aim = "view build" if first else rng.choice(["random", "random", "random", *AIMS])
                plan = Kill(len(rounds) - 1, aim)
                deadline = rng.uniform(0, reference_seconds)
                if aim != "random":  # killed when its phase comes; if it does not, the run completes
                    deadline = reference_seconds * 2
            else:
                plan, deadline = Kill(len(rounds) - 1, "none"), float("inf")
            first = False
            if attempt(command, env, Watch.before(run, cache, log), plan, deadline, rng):
                break
            current.kills.append(plan)
            landed += 1
            print(f"kill {landed}: {plan}", flush=True)
        current.differences = compare_runs(work / "reference" / "run", run)
        current.leftovers = leftovers(run, cache)
    return rounds


# ---------------------------------------------------------------- comparing


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.contiguous().view(torch.uint8),
                                                                     b.contiguous().view(torch.uint8))


def compare_runs(reference: Path, resumed: Path) -> list[str]:
    """Every difference between the two run folders' model, metrics.json and metrics.jsonl."""
    from safetensors.torch import load_file

    differences = []
    files = sorted(path.name for path in (reference / "model").glob("*.safetensors"))
    if files != sorted(path.name for path in (resumed / "model").glob("*.safetensors")):
        differences.append(f"model files differ: {files}")
    for name in files:
        a, b = load_file(reference / "model" / name), load_file(resumed / "model" / name)
        if sorted(a) != sorted(b):
            differences.append(f"model/{name}: tensor names differ")
        differences += [f"model/{name}: {key} differs" for key in sorted(a) if key in b and not same_bits(a[key], b[key])]
    ours, theirs = (json.loads((folder / "metrics.json").read_text()) for folder in (reference, resumed))
    differences += [f"metrics.json {key}: {ours.get(key)} != {theirs.get(key)}"
                    for key in sorted((set(ours) | set(theirs)) - TIMING) if ours.get(key) != theirs.get(key)]
    a, b = log_rows(reference), log_rows(resumed)
    if [row.get("step") for row in a] != [row.get("step") for row in b]:
        differences.append(f"metrics.jsonl steps differ: {len(a)} lines against {len(b)}")
    differences += [f"metrics.jsonl step {x['step']} {key}: {x.get(key)} != {y.get(key)}"
                    for x, y in zip(a, b) for key in sorted(set(x) | set(y)) if x.get(key) != y.get(key)]
    return differences


def leftovers(run: Path, cache: Path) -> list[str]:
    """Files a killed attempt left that the completed run did not clear away."""
    marks = (".partial", ".old", ".tmp", ".incomplete")
    return sorted(f"{root.name}/{path.relative_to(root)}" for root in (run, cache / "textssl")
                  for path in root.rglob("*") if any(mark in path.name for mark in marks))


def augment_kills(kills: int, seed: int, work: Path,
                  cache: Path) -> tuple[list[dict], dict[int, tuple[float, float]], list[str]]:
    """Kill the augment command at random moments and rerun it until it completes, for --workers 1
    and 2 (half of the kills each); a fresh output file while kills remain. Moments are drawn
    over the uninterrupted run's wall time, every other one over the part after its output
    appeared (the start-up, reading and fitting, takes most of the time)."""
    rng = random.Random(seed + 1)
    env, rows, seconds, verdicts, log = environment(cache), [], {}, [], work / "augment.log"
    for workers in (1, 2):
        reference = work / f"augment-whole-w{workers}.jsonl"
        seconds[workers] = run_whole(augment_command(reference, workers), env, log, reference)
        writing = seconds[workers][1]
        landed, share, outputs = 0, kills // 2 if workers == 1 else kills - kills // 2, []
        while landed < share:
            out = work / f"augment-killed-w{workers}-{len(outputs)}.jsonl"
            outputs.append(out)
            while landed < share:
                before = out.read_bytes().count(b"\n") if out.exists() else 0
                process = launch(augment_command(out, workers), env, log)
                # every other kill aimed at the writing of the output, after the start-up
                moment = rng.uniform(writing if landed % 2 else 0.0, seconds[workers][0])
                started = time.perf_counter()
                while process.poll() is None and time.perf_counter() - started < moment:
                    time.sleep(POLL)
                if process.poll() is not None:
                    if process.returncode != 0:
                        raise SystemExit(f"augment failed after a kill; see {log}")
                    break
                kill(process)
                landed += 1
                content = out.read_bytes() if out.exists() else b""
                rows.append({"workers": workers, "output": len(outputs) - 1, "moment": moment, "lines_before": before,
                             "lines_after": content.count(b"\n"), "torn": bool(content) and not content.endswith(b"\n")})
                print(f"augment kill {landed}: {rows[-1]}", flush=True)
            else:
                if launch(augment_command(out, workers), env, log).wait() != 0:
                    raise SystemExit(f"augment failed to resume; see {log}")
        differ = [out.name for out in outputs if out.read_bytes() != reference.read_bytes()]
        verdicts.append(f"--workers {workers}: {len(outputs)} killed and resumed output(s), "
                        + (f"DIFFERENT from the uninterrupted run's: {', '.join(differ)}" if differ else
                           f"each equal to the uninterrupted run's byte for byte ({reference.stat().st_size:,} bytes)"))
    same = (work / "augment-whole-w1.jsonl").read_bytes() == (work / "augment-whole-w2.jsonl").read_bytes()
    verdicts.append(f"the uninterrupted --workers 1 and --workers 2 outputs are {'equal' if same else 'DIFFERENT'}")
    return rows, seconds, verdicts


# ---------------------------------------------------------------- the report


def report(args: argparse.Namespace, reference_seconds: float, rounds: list[Round], augment_rows: list[dict],
           augment_seconds: dict[int, tuple[float, float]], augment_verdicts: list[str]) -> str:
    lines = [f"`python benchmarks/kill_resume.py --kills {args.kills} --seed {args.seed} --results {args.results}`",
             "", "# Kill and resume", "",
             f"## `textssl train`: FixMatch with TF-IDF views, {MAX_STEPS} steps, checkpoint and dev evaluation "
             f"every {EVERY}", "",
             f"Uninterrupted reference: {reference_seconds:.1f} s wall time. Moments are seconds after the attempt's "
             "launch; the phase is what the run folder showed just before the kill; steps are the last step "
             "logged (every step is logged) and the step of the checkpoint the kill left, which the next attempt "
             "resumes from.", "",
             "| kill | round | aimed at | moment (s) | phase hit | attempt started at step | last step logged | "
             "next attempt resumes from step |", "|---|---|---|---|---|---|---|---|"]
    number = 0
    for index, current in enumerate(rounds):
        for kill_row in current.kills:
            number += 1
            reached = "—" if kill_row.reached is None else kill_row.reached
            lines.append(f"| {number} | {index} | {kill_row.aim} | {kill_row.moment:.2f} | {kill_row.phase} | "
                         f"{kill_row.started_at} | {reached} | {kill_row.left} |")
    lines += ["", "Verdict per round (the resumed run against the uninterrupted reference):", ""]
    for index, current in enumerate(rounds):
        verdict = ("model tensors, metrics.json (without train_seconds and train_steps_per_second) and every "
                   "line of metrics.jsonl equal bit for bit" if not current.differences
                   else "DIFFERS: " + "; ".join(current.differences[:10]))
        lines.append(f"- round {index} ({len(current.kills)} kills): {verdict}.")
        if current.leftovers:
            lines.append(f"  Left behind in the run or cache folder: {', '.join(current.leftovers)}.")
    lines += ["", f"## `augment rotten_tomatoes --op tfidf --copies 2 --chunk-size 32` (10,252 rows)", "",
              "Uninterrupted: " + ", ".join(f"--workers {w}: {whole:.1f} s, the output appearing after {first:.1f} s"
                                            for w, (whole, first) in augment_seconds.items()) + ".", "",
              "Output lines: two per row (two copies).", "",
              "| kill | workers | output file | moment (s) | phase hit | output lines before | output lines after the kill | "
              "torn last line |", "|---|---|---|---|---|---|---|---|"]
    total = 2 * 10_252
    for number, row in enumerate(augment_rows, 1):
        before, after = row["lines_before"], row["lines_after"]
        hit = ("after the last chunk" if after == total and before < total else "start-up (output complete)"
               if before == total else "writing" if after > before else "start-up (reading, fitting)")
        lines.append(f"| {number} | {row['workers']} | {row['output']} | {row['moment']:.2f} | {hit} | {before} | "
                     f"{after} | {'yes' if row['torn'] else 'no'} |")
    lines += ["", *[f"- {verdict}." for verdict in augment_verdicts], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="kills of the training run, and of augment")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, help="write the Markdown tables here")
    parser.add_argument("--work", type=Path, help="keep the runs in this folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        os.environ["TEXTSSL_CACHE"] = str(work / "setup-cache")
        model, data = tiny_model(work / "tiny-model"), data_slice(work / "data")
        (work / "reference").mkdir()
        reference_seconds, _ = run_whole(train_command(data, model, work / "reference" / "run"),
                                      environment(work / "reference" / "cache"), work / "reference" / "train.log")
        rounds = training_rounds(args.kills, args.seed, work, reference_seconds, data, model)
        augment_rows, augment_seconds, verdicts = augment_kills(args.kills, args.seed, work, work / "setup-cache-augment")
        text = report(args, reference_seconds, rounds, augment_rows, augment_seconds, verdicts)
    print(text)
    if args.results:
        args.results.write_text(text)


if __name__ == "__main__":
    main()
