"""Reading a text column from CSV / JSONL / Parquet or a built-in dataset, and writing views
in chunks that a later run can resume from."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.atomic import written_whole
from augment.errors import AugmentError

READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
WRITERS = (".jsonl", ".parquet")


DATASETS_ENTRY_POINT = "augment.datasets"


def named_datasets() -> dict[str, Callable[[str], pd.DataFrame]]:
    """Datasets other packages offer by name: each entry point of the group ``augment.datasets``
    is a function returning {name: load(split) -> DataFrame} (textssl offers its built-ins);
    ``load`` raises KeyError for an unknown split.
    augment itself depends on none of them."""
    offered: dict[str, Callable[[str], pd.DataFrame]] = {}
    for entry_point in entry_points(group=DATASETS_ENTRY_POINT):
        offered.update(entry_point.load()())
    return offered


def read_table(source: str, split: str = "train") -> pd.DataFrame:
    """The rows of a file, or of split ``split`` of a dataset offered by name (``named_datasets``)."""
    path = Path(source)
    kind = READERS.get(path.suffix.lower())
    if kind is None and not path.exists():
        offered = named_datasets()
        if source in offered:
            try:
                return offered[source](split)
            except KeyError as error:  # the provider's way to say the split is unknown
                raise AugmentError(f"{source}: {error.args[0]}") from None
        names = list(offered)
        known = f"; datasets by name: {', '.join(names)}" if names else " (install textssl for its built-in datasets)"
        raise AugmentError(f"{source}: no such file and not a built-in dataset{known}")
    if kind is None:
        raise AugmentError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet")
    if not path.is_file():
        raise AugmentError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AugmentError(f"{path}: the file is empty")
    try:
        if kind in ("csv", "tsv"):
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",")
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=kind == "jsonl" or None, dtype=False)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AugmentError(f"{path}: cannot read it as {kind} ({first})") from None
    if frame.empty:
        raise AugmentError(f"{path}: no rows")
    return frame


def text_column(frame: pd.DataFrame, column: str, where: str) -> list[str]:
    if column not in frame.columns:
        raise AugmentError(f"{where}: no column {column!r}; columns are {', '.join(map(str, frame.columns))}")
    values = frame[column]
    present = values.dropna()
    if len(present) and not all(isinstance(v, str) for v in present.head(1000)):
        raise AugmentError(f"{where}: column {column!r} does not hold text (e.g. {present.iloc[0]!r})")
    return ["" if pd.isna(v) else str(v) for v in values]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


class ViewWriter:
    """Append chunks of views to ``out`` (.jsonl: one file; .parquet: part files joined by
    ``finish``); ``rows_done`` counts source rows already complete with all copies."""

    def __init__(self, out: Path, copies: int) -> None:
        if out.suffix.lower() not in WRITERS:
            raise AugmentError(f"{out}: unsupported output type {out.suffix!r}; use .jsonl or .parquet")
        self.out, self.copies = out, copies
        self.parquet = out.suffix.lower() == ".parquet"
        self.parts = out.with_name(out.name + ".parts")

    def exists(self) -> bool:
        return self.out.exists() or self.parts.exists()

    def remove(self) -> None:
        self.out.unlink(missing_ok=True)
        shutil.rmtree(self.parts, ignore_errors=True)

    def rows_done(self) -> int:
        if self.parquet:
            if self.out.exists():
                return len(pd.read_parquet(self.out, columns=["row"])) // self.copies
            import pyarrow.parquet as pq
            complete = sorted(self.parts.glob("part-*.parquet")) if self.parts.exists() else []
            return sum(pq.ParquetFile(p).metadata.num_rows for p in complete) // self.copies
        if not self.out.exists():
            return 0
        # Keep whole lines of whole rows; a run killed mid-write leaves a partial tail to drop.
        lines, good = self.out.read_bytes().split(b"\n"), []
        for line in lines:
            try:
                good.append(json.loads(line)["row"])
            except (ValueError, KeyError, TypeError):
                break
        done = len(good) // self.copies
        keep = done * self.copies
        # A whole line cut off just before its newline still parses: rewrite then too, or the
        # next chunk would be appended to that line.
        if keep != len(lines) - 1 or lines[-1] != b"":
            self.out.write_bytes(b"".join(line + b"\n" for line in lines[:keep]))
        return done

    def write(self, records: list[dict[str, Any]]) -> None:
        if self.parquet:
            self.parts.mkdir(parents=True, exist_ok=True)
            index = len(list(self.parts.glob("part-*.parquet")))
            frame = pd.DataFrame([{**r, "params": json.dumps(r["params"])} for r in records])
            # A part is whole or absent; the temporary's name does not match "part-*.parquet".
            with written_whole(self.parts / f"part-{index:06d}.parquet") as partial:
                frame.to_parquet(partial, index=False)
            return
        data = "".join(json.dumps(r, ensure_ascii=False, default=_plain) + "\n" for r in records)
        with self.out.open("a", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()

    def finish(self) -> None:
        if self.parquet and self.parts.exists():
            parts = sorted(self.parts.glob("part-*.parquet"))
            frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
            with written_whole(self.out) as partial:
                frame.to_parquet(partial, index=False)
            shutil.rmtree(self.parts)
