"""Speed of augment's TF-IDF replacement against nlpaug's TfIdfAug, and of Apertium
back-translation, on the same rotten_tomatoes reviews (training split, first N).

Both TF-IDF sides fit their statistics on the same reviews, split by the same basic
tokenizer, before the clock starts; then each augments every review once, best of
`--repeats`. nlpaug runs with its defaults (aug_p=0.3, top_k=5), augment with UDA's
p=0.7, so augment replaces more words yet is timed the same way. Back-translation goes
English → Spanish → English through `apertium -u` (one pipe for all sentences).

    python benchmarks/augment_speed.py --tfidf-reviews 2000 --bt-reviews 500 \
        --results benchmarks/results/augment_speed.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def reviews(count: int) -> list[str]:
    from textssl.config import DataConfig
    from textssl.data import load_splits

    return list(load_splits(DataConfig(dataset="rotten_tomatoes"))["train"]["text"][:count])


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def bench_tfidf(texts: list[str], repeats: int) -> dict:
    import nlpaug.augmenter.word as naw
    from nlpaug.model.word_stats import TfIdf

    from augment import TfIdfReplace
    from augment.text.tokenize import word_list

    started = time.perf_counter()
    ours = TfIdfReplace(p=0.7, seed=0).fit(texts)
    ours_fit = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        model = TfIdf()
        model.train([word_list(t) for t in texts])
        model.save(folder)
        theirs_fit = time.perf_counter() - started
        theirs = naw.TfIdfAug(model_path=folder, action="substitute", tokenizer=word_list)
    ours_time, ours_out = best_of(repeats, lambda: ours(texts))
    theirs_time, _ = best_of(repeats, lambda: [theirs.augment(t) for t in texts])
    return {"n": len(texts), "ours_fit": ours_fit, "theirs_fit": theirs_fit, "ours": len(texts) / ours_time,
            "theirs": len(texts) / theirs_time, "examples": list(zip(texts[:5], ours_out[:5]))}


def bench_backtranslation(texts: list[str]) -> dict:
    from augment import BackTranslation

    bt = BackTranslation(backend="apertium", seed=0)
    started = time.perf_counter()
    out = bt(texts)
    elapsed = time.perf_counter() - started
    sentences = [s for t in texts for s in bt.sentences(t)]
    round_trips = bt.round_trip(sentences)
    changed = sum(a != b for a, b in zip(sentences, round_trips))
    return {"n": len(texts), "sentences": len(sentences), "seconds": elapsed,
            "reviews_per_s": len(texts) / elapsed, "sentences_per_s": len(sentences) / elapsed,
            "sentences_changed": changed / len(sentences),
            "reviews_changed": sum(a != b for a, b in zip(texts, out)) / len(texts),
            "examples": list(zip(texts[:5], out[:5]))}


def report(args: argparse.Namespace, tfidf: dict, bt: dict) -> str:
    import nlpaug

    command = "python benchmarks/augment_speed.py " + " ".join(sys.argv[1:])
    ratio = tfidf["ours"] / tfidf["theirs"]
    lines = [
        "# augment speed", "",
        f"`{command}` — {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, nlpaug {nlpaug.__version__}, single process.", "",
        f"## TF-IDF word replacement ({tfidf['n']} rotten_tomatoes reviews, best of {args.repeats})", "",
        "| implementation | reviews / s | fit (s) |", "|---|---:|---:|",
        f"| augment `TfIdfReplace(p=0.7)` | {tfidf['ours']:,.0f} | {tfidf['ours_fit']:.2f} |",
        f"| nlpaug `TfIdfAug` (defaults) | {tfidf['theirs']:,.0f} | {tfidf['theirs_fit']:.2f} |",
        f"| **ratio** | **{ratio:.1f}×** | |", "",
        f"## Back-translation, Apertium eng→spa→eng ({bt['n']} reviews, {bt['sentences']} sentences)", "",
        "| reviews / s | sentences / s | sentences changed by the round trip | reviews changed after UDA's filter |",
        "|---:|---:|---:|---:|",
        f"| {bt['reviews_per_s']:,.0f} | {bt['sentences_per_s']:,.0f} | {bt['sentences_changed']:.1%} "
        f"| {bt['reviews_changed']:.1%} |", "",
        "## Five reviews", "",
    ]
    for (text, tf), (_, back) in zip(tfidf["examples"], bt["examples"]):
        lines += [f"- original: {text}", f"  - TF-IDF: {tf}", f"  - back-translation: {back}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfidf-reviews", type=int, default=2000)
    parser.add_argument("--bt-reviews", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    texts = reviews(max(args.tfidf_reviews, args.bt_reviews))
    tfidf = bench_tfidf(texts[:args.tfidf_reviews], args.repeats)
    bt = bench_backtranslation(texts[:args.bt_reviews])
    text = report(args, tfidf, bt)
    print(text)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(text)


if __name__ == "__main__":
    main()
