"""augment INPUT --op OP [--op OP ...] --copies K --seed S --out VIEWS.jsonl

Write K augmented copies of every row's text, with provenance (op, parameters, seed).
INPUT is a .csv/.tsv/.jsonl/.json/.parquet file or a built-in dataset name (textssl's,
e.g. rotten_tomatoes). Several --op are applied in sequence. The output is written in
chunks; running the same command again after an interruption resumes where it stopped.

examples:
  augment reviews.csv --column text --op tfidf --p 0.7 --copies 2 --seed 0 --out views.jsonl
  augment rotten_tomatoes --op backtranslation:backend=apertium --workers 2 --out bt.parquet
  augment reviews.jsonl --op synonym:p=0.2 --op swap --out eda.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import augment
from augment.atomic import written_whole
from augment.base import Augmenter
from augment.errors import AugmentError

_worker_augmenter: Augmenter | None = None


def _init_worker(augmenter: Augmenter) -> None:
    global _worker_augmenter
    _worker_augmenter = augmenter


def _run_chunk(job: tuple[Augmenter | None, list[str], list[int], int]) -> list[list[str]]:
    augmenter, texts, ids, copies = job
    return (augmenter or _worker_augmenter)(texts, n=copies, ids=ids)  # type: ignore[misc]


def _parser() -> argparse.ArgumentParser:
    from augment.ops import OPS

    parser = argparse.ArgumentParser(prog="augment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", help="data file or built-in dataset name")
    parser.add_argument("--column", default="text", help="text column (default: text)")
    parser.add_argument("--split", default="train", help="split of a built-in dataset (default: train)")
    parser.add_argument("--op", action="append", default=[], metavar="NAME[:k=v,...]",
                        help=f"augmentation op, repeatable; one of {', '.join(OPS)} (see --list-ops)")
    parser.add_argument("--p", type=float, default=None, help="p for every op that takes one and does not set it")
    parser.add_argument("--copies", type=int, default=1, help="augmented copies per row (default: 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="output file, .jsonl or .parquet")
    parser.add_argument("--stats", type=Path, help="TF-IDF statistics file: loaded if it exists, "
                        "else fitted on the input column and saved there")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")
    parser.add_argument("--workers", type=int, default=1, help="processes (for the slow ops, e.g. backtranslation)")
    parser.add_argument("--chunk-size", type=int, default=256, help="rows written at a time (default: 256)")
    parser.add_argument("--overwrite", action="store_true", help="discard an existing output instead of resuming")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--list-ops", action="store_true", help="print the ops and their parameters, then exit")
    parser.add_argument("--version", action="version", version=f"augment {augment.__version__}")
    return parser


def _list_ops() -> None:
    from augment.ops import ALIASES, OPS, parameters

    for name in OPS:
        aliases = [a for a, target in ALIASES.items() if target == name]
        settings = ", ".join(f"{k}={v}" for k, v in parameters(name).items())
        print(f"{name:16s} {settings}" + (f"   (alias: {', '.join(aliases)})" if aliases else ""))


def _fit(augmenter: Augmenter, texts: list[str], stats: Path | None) -> None:
    from augment.ops import needs_fit
    from augment.text import TfIdfReplace

    for op in needs_fit(augmenter):
        if isinstance(op, TfIdfReplace) and stats is not None and stats.exists():
            op.load(stats)
            continue
        op.fit(texts)  # type: ignore[attr-defined]
        if isinstance(op, TfIdfReplace) and stats is not None:
            op.save(stats)


def _chunks(texts: list[str], start: int, size: int, copies: int,
            augmenter: Augmenter | None) -> Iterator[tuple[Augmenter | None, list[str], list[int], int]]:
    for begin in range(start, len(texts), size):
        end = min(begin + size, len(texts))
        yield augmenter, texts[begin:end], list(range(begin, end)), copies


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from augment.io import ViewWriter, read_table, text_column
    from augment.ops import build

    if args.out is None:
        raise AugmentError("--out is required (a .jsonl or .parquet file)")
    for flag, value in (("--copies", args.copies), ("--workers", args.workers), ("--chunk-size", args.chunk_size)):
        if value < 1:
            raise AugmentError(f"{flag} must be at least 1, got {value}")
    augmenter = build(args.op, seed=args.seed, defaults={"p": args.p})
    writer = ViewWriter(args.out, args.copies)
    frame = read_table(args.input, args.split)
    if args.limit is not None:
        frame = frame.iloc[:args.limit]
    texts = text_column(frame, args.column, args.input)
    _fit(augmenter, texts, args.stats)

    description = augmenter.describe()
    meta_path = args.out.with_name(args.out.name + ".meta.json")
    meta = {"input": str(args.input), "split": args.split, "column": args.column, "rows": len(texts),
            "copies": args.copies, "augmenter": description}
    if args.overwrite:
        writer.remove()
        meta_path.unlink(missing_ok=True)
    if writer.exists():
        previous = json.loads(meta_path.read_text()) if meta_path.exists() else None
        if previous != meta:
            raise AugmentError(f"{args.out}: exists from a different run (input, ops, seed or copies differ); "
                               "pass --overwrite or choose another --out")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Whole or absent: every run rewrites it, and a run killed while writing it in place left
    # an empty or cut-off file that the next run could not read.
    with written_whole(meta_path) as partial:
        partial.write_text(json.dumps(meta, indent=2))

    done = writer.rows_done()
    extra = [c for c in frame.columns if c != args.column and c not in ("row", "copy", "augmented", "op",
                                                                       "params", "seed")]
    carried = frame[extra].to_dict("records") if extra else [{} for _ in texts]
    provenance = {"op": description["op"], "params": {k: v for k, v in description.items() if k not in ("op", "seed")},
                  "seed": args.seed}
    bar = tqdm(total=len(texts), initial=done, unit="row", disable=args.quiet, desc="augment")
    pool = None
    try:
        if args.workers > 1 and done < len(texts):
            pool = multiprocessing.get_context("spawn").Pool(args.workers, _init_worker, (augmenter,))
            results = pool.imap(_run_chunk, _chunks(texts, done, args.chunk_size, args.copies, None))
        else:
            results = map(_run_chunk, _chunks(texts, done, args.chunk_size, args.copies, augmenter))
        row = done
        for views in results:
            records = []
            for copies in views:
                for c, view in enumerate(copies):
                    records.append({"row": row, "copy": c, **carried[row], args.column: texts[row],
                                    "augmented": view, **provenance})
                row += 1
            writer.write(records)
            bar.update(len(views))
        writer.finish()
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    return {"out": str(args.out), "rows": len(texts), "copies": args.copies, "resumed_from": done}


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_ops:
        _list_ops()
        return
    if args.input is None:
        parser.print_usage(sys.stderr)
        print("augment: error: give an INPUT file or dataset name", file=sys.stderr)
        sys.exit(2)
    try:
        summary = run(args)
    except AugmentError as error:
        print(f"augment: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"augment: interrupted; run the same command again to resume {args.out}", file=sys.stderr)
        sys.exit(130)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
