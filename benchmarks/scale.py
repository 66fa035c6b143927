"""Memory and time as the unlabelled pool grows: 10k, 100k and 1M texts.

The pool is made deterministically from Rotten Tomatoes: each text joins two training reviews
of one class, drawn by a generator seeded per block of 10,000 rows, so every pool is the first
rows of the larger ones (about 1.0 GB of Parquet at 1M; written to --workdir, never committed).
Dev and test are 500 reviews each of the validation and test splits.

Each run is one `textssl train` in a fresh process with fresh caches (cold), then once more on
the caches it built (warm): a FixMatch run whose strong views are TF-IDF word replacements
computed by the view cache, and a supervised run. The process samples its own memory every
0.05 s: peak RSS (`VmHWM`), and apart the private memory (`RssAnon`: Python objects, tensors)
and the file pages mapped from the Arrow cache (`RssFile`: the kernel's page cache, which it
reclaims under pressure). View-building workers are separate processes: their peak is listed too.

    python benchmarks/scale.py --sizes 10000 100000 1000000 --workdir /tmp/textssl-scale \\
        --results benchmarks/results/scale.md
    # then: kill the 1M pool's view build after 30 of its 100 chunks, resume it, compare
    python benchmarks/scale.py --sizes 1000000 --kill-views-after 30 --workdir /tmp/textssl-scale \\
        --results benchmarks/results/scale.md
"""

from __future__ import annotations

import argparse
import json
import filecmp
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BLOCK = 10_000
METHODS = {
    "fixmatch": ["recipes/text/fixmatch.yaml", 'views.augment=["tfidf:p=0.7"]'],
    "supervised": ["recipes/text/supervised.yaml"],
}
RUN_SETTINGS = ["data.labels_per_class=10", "data.max_length=64", "train.max_steps=10", "train.eval_every=10",
                "train.save_every=10", "train.batch_size=8", "train.eval_batch_size=64", "train.progress_bar=false"]


def write_pool(size: int, folder: Path) -> Path:
    """The first `size` rows of the deterministic pool, as Parquet (written once)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from textssl.data.builtin import load_builtin

    path = folder / f"pool-{size}.parquet"
    if path.is_file():
        return path
    splits = load_builtin("rotten_tomatoes")
    names = splits["train"].features["label"].names
    texts = np.asarray(splits["train"]["text"], dtype=object)
    labels = np.asarray(splits["train"]["label"])
    by_class = [texts[labels == label] for label in range(len(names))]
    for split in ("dev", "test"):
        held = splits[split].select(range(500))
        pq.write_table(pa.table({"text": held["text"], "label": [names[x] for x in held["label"]]}),
                       folder / f"{split}.parquet")
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, pa.schema({"text": pa.string(), "label": pa.string()})) as writer:
        for block in range(0, size, BLOCK):
            rng = np.random.default_rng([0, block // BLOCK])
            rows = min(BLOCK, size - block)
            label = rng.integers(len(names), size=rows)
            picks = rng.random((rows, 2))  # two reviews of the row's class, as shares of that class's list
            joined = [" ".join(by_class[c][(pick * len(by_class[c])).astype(int)]) for c, pick in zip(label, picks)]
            writer.write_table(pa.table({"text": joined, "label": [names[c] for c in label]}))
    os.replace(partial, path)
    return path


class MemorySampler(threading.Thread):
    """Peak VmRSS, RssAnon and RssFile of this process, read from /proc every `interval` seconds."""

    FIELDS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval, self.peaks, self.stopped = interval, dict.fromkeys(self.FIELDS, 0), threading.Event()

    def read(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in self.peaks:
                self.peaks[name] = max(self.peaks[name], int(value.split()[0]) * 1024)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.read()

    def stop(self) -> dict[str, int]:
        self.stopped.set()
        self.join()
        self.read()
        return self.peaks


def measure(method: str, size: int, workdir: Path, launched_at: float) -> dict:
    """One run in this process (a child of `main`): its timings and memory peaks."""
    sampler = MemorySampler()
    sampler.start()
    import textssl.run
    from textssl.engine.callbacks import Callback
    from textssl.recipe import load_config

    timings: dict[str, float] = {}
    build_views = textssl.run.with_augmented_views

    def timed_views(*args, **kwargs):
        started = time.perf_counter()
        splits = build_views(*args, **kwargs)
        timings["view_seconds"] = time.perf_counter() - started
        return splits

    class FirstStep(Callback):
        def on_train_begin(self, loop, state):
            timings["startup_seconds"] = time.time() - launched_at

    textssl.run.with_augmented_views = timed_views
    recipe, *overrides = METHODS[method]
    config = load_config(recipe, [
        *overrides, *RUN_SETTINGS, f"data.dataset={workdir / f'pool-{size}.parquet'}",
        f"data.dev_file={workdir / 'dev.parquet'}", f"data.test_file={workdir / 'test.parquet'}",
        f"train.output_dir={workdir / 'runs' / f'{method}-{size}'}", "train.resume=false"])
    run = textssl.run.build_run(config)
    run.trainer.callbacks.append(FirstStep())
    metrics = run.execute()
    peaks = sampler.stop()
    return {"method": method, "pool": size, **timings, "steps_per_second": metrics["train_steps_per_second"],
            "views_per_second": size / timings["view_seconds"] if "view_seconds" in timings else None,
            "peak_rss": peaks["VmHWM"], "peak_anon": peaks["RssAnon"], "peak_file": peaks["RssFile"],
            "worker_peak_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
            "test_accuracy": metrics["test"]["accuracy"]}


def build_views(pool: Path, workers: int) -> None:
    """The strong views a FixMatch run of `METHODS` builds for `pool` (a child of `kill_view_build`)."""
    from datasets import load_dataset

    from textssl.config import ViewsConfig
    from textssl.data.view_cache import augmented_views

    texts = load_dataset("parquet", data_files=str(pool), split="train").select_columns(["text"])
    augmented_views(texts, ViewsConfig(augment=["tfidf:p=0.7"], workers=workers))


def kill_view_build(size: int, workdir: Path, kill_after_chunks: int, workers: int) -> list[str]:
    """SIGKILL a view build once it has written `kill_after_chunks` chunks, run it again, and
    compare every chunk with those of the uninterrupted build the cold FixMatch run made."""
    cache = workdir / "cache" / f"kill-views-{size}"
    env = {**os.environ, "TEXTSSL_CACHE": str(cache), "HF_DATASETS_CACHE": str(cache / "datasets")}
    command = [sys.executable, __file__, "--build-views", str(workdir / f"pool-{size}.parquet"), str(workers),
               "--workdir", str(workdir)]
    child = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    while len(list(cache.glob("views/*.partial/chunk-*.arrow"))) < kill_after_chunks and child.poll() is None:
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = len(list(cache.glob("views/*.partial/chunk-*.arrow")))
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
    resumed_seconds = time.perf_counter() - started
    [built] = [folder for folder in cache.glob("views/*") if not folder.name.endswith(".partial")]
    [reference] = (workdir / "cache" / f"fixmatch-{size}" / "textssl" / "views").glob(built.name)
    chunks = sorted(path.name for path in built.glob("chunk-*.arrow"))
    same = sum(filecmp.cmp(built / name, reference / name, shallow=False) for name in chunks)
    return ["| pool | workers | chunks | finished before the kill | resumed build (s) | chunks byte for byte equal "
            "to an uninterrupted build's |", "|---:|---:|---:|---:|---:|---:|",
            f"| {size:,} | {workers} | {len(chunks)} | {kept} | {resumed_seconds:.0f} | {same} of {len(chunks)} |"]


def run_child(method: str, size: int, workdir: Path, cache: Path) -> dict:
    out = workdir / f"{method}-{size}.json"
    env = {**os.environ, "TEXTSSL_CACHE": str(cache / "textssl"), "HF_DATASETS_CACHE": str(cache / "datasets")}
    subprocess.run([sys.executable, __file__, "--measure", method, str(size), "--workdir", str(workdir),
                    "--launched-at", repr(time.time()), "--out", str(out)], check=True, env=env)
    return json.loads(out.read_text())


def median_row(runs: list[dict]) -> dict:
    """The median of each measurement over repeated runs of one setting (memory varies by
    tens of MB from run to run: allocator and thread timing)."""
    return {key: statistics.median(row[key] for row in runs)
            if all(isinstance(row[key], (int, float)) for row in runs) else runs[0][key] for key in runs[0]}


def table(rows: list[dict], baseline: dict[str, dict]) -> list[str]:
    gib = 1024 ** 3
    lines = ["| method | pool | start | start-up (s) | views built (texts/s) | steps/s | peak RSS (GiB) | "
             "× 10k | private (GiB) | × 10k | mapped files (GiB) | view workers' peak (GiB) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        base = baseline[row["method"], row["start"]]
        views = f"{row['views_per_second']:,.0f}" if row.get("views_per_second") else "—"
        workers = f"{row['worker_peak_rss'] / gib:.2f}" if row["worker_peak_rss"] else "—"
        lines.append(f"| {row['method']} | {row['pool']:,} | {row['start']} | {row['startup_seconds']:.1f} | {views} | "
                     f"{row['steps_per_second']:.2f} | {row['peak_rss'] / gib:.2f} | "
                     f"{row['peak_rss'] / base['peak_rss']:.2f} | {row['peak_anon'] / gib:.2f} | "
                     f"{row['peak_anon'] / base['peak_anon']:.2f} | {row['peak_file'] / gib:.2f} | {workers} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--starts", nargs="+", default=["cold", "warm"], choices=["cold", "warm"],
                        help="warm alone reuses the caches an earlier cold run left in --workdir")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setting; the table shows medians")
    parser.add_argument("--workdir", type=Path, required=True, help="pools, caches and runs (not committed)")
    parser.add_argument("--results", type=Path, help="write the Markdown table here")
    parser.add_argument("--kill-views-after", type=int, metavar="CHUNKS",
                        help="then kill the largest pool's view build after CHUNKS chunks and resume it")
    parser.add_argument("--build-views", nargs=2, metavar=("POOL", "WORKERS"), help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=2, metavar=("METHOD", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--launched-at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_views:
        build_views(Path(args.build_views[0]), int(args.build_views[1]))
        return
    if args.measure:
        method, size = args.measure
        args.out.write_text(json.dumps(measure(method, int(size), args.workdir, args.launched_at)))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.kill_views_after:  # after a full run, which built the reference views
        size = max(args.sizes)
        lines = ["", "## A view build killed and resumed", "",
                 f"`python benchmarks/scale.py --sizes {size} --kill-views-after {args.kill_views_after} "
                 f"--workdir WORKDIR --results {args.results}`", "",
                 *kill_view_build(size, args.workdir, args.kill_views_after, workers=2)]
        print("\n".join(lines))
        if args.results:
            with args.results.open("a") as results:
                results.write("\n".join(lines) + "\n")
        return
    rows, every_run = [], []
    for size in args.sizes:
        write_pool(size, args.workdir)
        for method in args.methods:
            cache = args.workdir / "cache" / f"{method}-{size}"
            runs: dict[str, list[dict]] = {start: [] for start in args.starts}
            for repeat in range(args.repeats):
                if "cold" in args.starts:
                    shutil.rmtree(cache, ignore_errors=True)
                for start in args.starts:
                    row = {**run_child(method, size, args.workdir, cache), "start": start, "repeat": repeat}
                    print(json.dumps(row), flush=True)
                    runs[start].append(row)
            every_run += [row for start in args.starts for row in runs[start]]
            rows += [median_row(runs[start]) for start in args.starts]
    baseline = {(row["method"], row["start"]): row for row in rows if row["pool"] == min(args.sizes)}
    lines = table(rows, baseline)
    print("\n".join(lines))
    if args.results:
        command = (f"--sizes {' '.join(map(str, args.sizes))} --methods {' '.join(args.methods)} "
                   f"--starts {' '.join(args.starts)} --repeats {args.repeats}")
        repeats = f"; each row the median of {args.repeats} runs" if args.repeats > 1 else ""
        header = ["# Scale: memory and time against the size of the unlabelled pool", "",
                  f"`python benchmarks/scale.py {command} --workdir WORKDIR --results {args.results}` — "
                  f"{platform.machine()}, {os.cpu_count()} CPUs, one run at a time{repeats}.", ""]
        args.results.write_text("\n".join([*header, *lines]) + "\n")
        args.results.with_suffix(".jsonl").write_text("".join(json.dumps(row) + "\n" for row in every_run))

if __name__ == "__main__":
    main()
