"""`textssl report RUN`: the training dynamics of a run as a table, one row per logged step.

Reads the run folder's `metrics.jsonl` (or such a file given directly). The columns are
what tells a semi-supervised run that works from one that collapses: the two losses, the
unsupervised weight, the mask rate, the accuracy of the unlabelled targets against the
hidden labels, the share of each predicted class on unlabelled data, and dev accuracy
where it was measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from textssl.errors import TextsslError

COLUMNS = {
    "train/loss/supervised": "L_s",
    "train/loss/unsupervised": "L_u",
    "train/unsup_weight": "mu",
    "train/tsa_kept": "tsa kept",
    "train/unlabelled/mask_rate": "mask",
    "train/unlabelled/pseudo_label_accuracy": "target acc",
    "dev/accuracy": "dev acc",
    "dev/macro_f1": "dev F1",
}
SHARE = "train/unlabelled/predicted_share/"


def load_rows(run: Path) -> list[dict]:
    """The logged rows of a run folder (or of its metrics.jsonl), merged by step."""
    path = run / "metrics.jsonl" if run.is_dir() else run
    if not path.is_file():
        raise TextsslError(f"{run}: no metrics.jsonl (is it a textssl run folder?)")
    rows: dict[int, dict] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise TextsslError(f"{path}, line {number}: not JSON") from None
        rows.setdefault(record["step"], {}).update(record)
    return [rows[step] for step in sorted(rows)]


def dynamics_table(rows: list[dict]) -> str:
    columns = [key for key in COLUMNS if any(key in row for row in rows)]
    shares = sorted({key for row in rows for key in row if key.startswith(SHARE)})
    header = ["step", *(COLUMNS[key] for key in columns), *(f"pred {key[len(SHARE):]}" for key in shares)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row["step"])] + [f"{row[key]:.3f}" if key in row else "" for key in [*columns, *shares]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(run: str | Path) -> str:
    return dynamics_table(load_rows(Path(run)))
