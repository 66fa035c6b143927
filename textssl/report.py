"""`textssl report RUN`: the training dynamics of a run, as a table and as `report.md` with plots.

Reads the run folder's `metrics.jsonl` (or such a file given directly). What it shows is
what tells a semi-supervised run that works from one that collapses: the two losses, the
unsupervised weight, the mask rate, the accuracy of the unlabelled targets against the
hidden labels, the share of each predicted class on unlabelled data, and dev accuracy
and macro-F1 where they were measured. `write_report` draws each of these that the run
logged as a PNG (matplotlib, headless) next to `report.md`.
"""

from __future__ import annotations

import json
from pathlib import Path

from textssl.atomic import write_whole
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
# file stem -> (title, {metric: legend}); the predicted shares are drawn from every SHARE key
FIGURES = {
    "dev": ("Dev accuracy and macro-F1", {"dev/accuracy": "accuracy", "dev/macro_f1": "macro-F1"}),
    "loss": ("Training losses", {"train/loss/supervised": "supervised", "train/loss/unsupervised": "unsupervised"}),
    "unsup_weight": ("Unsupervised weight mu(t)", {"train/unsup_weight": "mu(t)"}),
    "mask_rate": ("Share of unlabelled targets kept (mask rate)", {"train/unlabelled/mask_rate": "mask rate"}),
    "target_accuracy": ("Unlabelled targets against the hidden labels",
                        {"train/unlabelled/pseudo_label_accuracy": "accuracy"}),
    "predicted_share": ("Predicted class shares on unlabelled data", {}),
}


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


def write_report(run: str | Path) -> Path:
    """`report.md` beside the run's metrics.jsonl, with a PNG for each series the run logged."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    run = Path(run)
    rows, folder = load_rows(run), run if run.is_dir() else run.parent
    shares = sorted({key for row in rows for key in row if key.startswith(SHARE)})
    sections = [f"# Training report: {folder.name}", ""]
    summary = folder / "metrics.json"
    if summary.is_file():
        final = json.loads(summary.read_text())
        sections += [f"Best step {final['best_step']} of {final['max_steps']}: "
                     + "; ".join(f"{split} accuracy {final[split]['accuracy']:.4f}, macro-F1 {final[split]['macro_f1']:.4f}"
                                 for split in ("dev", "test") if split in final), ""]
    for stem, (title, series) in FIGURES.items():
        series = series or {key: key[len(SHARE):] for key in shares}
        drawn = {legend: [(row["step"], row[key]) for row in rows if key in row] for key, legend in series.items()}
        drawn = {legend: points for legend, points in drawn.items() if points}
        if not drawn:
            continue
        figure, axes = pyplot.subplots(figsize=(6, 3.5))
        for legend, points in drawn.items():
            axes.plot(*zip(*points), marker="o" if len(points) < 30 else None, label=legend)
        axes.set(title=title, xlabel="step")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(folder / f"report_{stem}.png", dpi=100)
        pyplot.close(figure)
        sections += [f"![{title}](report_{stem}.png)", ""]
    sections += ["## Every logged step", "", dynamics_table(rows), ""]
    path = folder / "report.md"
    write_whole(path, "\n".join(sections))
    return path
