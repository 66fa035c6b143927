"""The `augment` command: outputs with provenance, resuming, workers, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from augment import TfIdfReplace
from augment.atomic import written_whole
from augment.cli import main
from augment.io import ViewWriter

REVIEWS = ["A gentle film about loss.", "Too long, too loud, and not funny at all.",
           "The cast is superb and the plot moves quickly.", "A dull, lifeless remake.",
           "Funny, warm and sharply written.", "It never finds its footing."] * 3


@pytest.fixture
def reviews_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"review": REVIEWS, "label": [i % 2 for i in range(len(REVIEWS))]}).to_csv(path, index=False)
    return path


def run(*argv: str) -> None:
    main([*map(str, argv), "--quiet"])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_k_copies_per_row_with_provenance(reviews_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "views.jsonl"
    run(reviews_csv, "--column", "review", "--op", "tfidf", "--p", "0.7", "--copies", "2", "--seed", "5",
        "--out", out, "--chunk-size", "4", "--stats", tmp_path / "stats.json")
    rows = read_jsonl(out)
    assert len(rows) == 2 * len(REVIEWS)
    assert [(r["row"], r["copy"]) for r in rows[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    first = rows[2]
    assert first["review"] == REVIEWS[1] and first["label"] == 1
    assert first["op"] == "tfidf" and first["seed"] == 5 and first["params"]["p"] == 0.7
    # the views are exactly the library's, with row numbers as ids
    aug = TfIdfReplace(p=0.7, seed=5).load(tmp_path / "stats.json")
    expected = aug(REVIEWS, n=2, ids=list(range(len(REVIEWS))))
    assert [r["augmented"] for r in rows] == [v for copies in expected for v in copies]
    # rows 0, 6 and 12 hold the same review; row ids give them different views
    assert len({rows[2 * i]["augmented"] for i in range(0, len(REVIEWS), 6)}) > 1


def test_resumes_after_a_kill_that_cut_the_last_line_before_its_newline(reviews_csv: Path, tmp_path: Path) -> None:
    args = [reviews_csv, "--column", "review", "--op", "swap:p=0.3", "--copies", "2", "--chunk-size", "4"]
    run(*args, "--out", tmp_path / "fresh.jsonl")
    out = tmp_path / "views.jsonl"
    whole = (tmp_path / "fresh.jsonl").read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(whole[:8])[:-1])  # two rows, the last line whole but for its newline
    (tmp_path / "views.jsonl.meta.json").write_bytes((tmp_path / "fresh.jsonl.meta.json").read_bytes())
    run(*args, "--out", out)
    assert out.read_bytes() == (tmp_path / "fresh.jsonl").read_bytes()


def test_the_run_record_is_replaced_whole(reviews_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill while the .meta.json is rewritten leaves the previous one, not an empty file."""
    args = [reviews_csv, "--column", "review", "--op", "swap:p=0.3", "--out", tmp_path / "views.jsonl"]
    run(*args)
    meta = tmp_path / "views.jsonl.meta.json"
    before = meta.read_text()

    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("augment.atomic.os.replace", killed)
    with pytest.raises(SystemExit):
        run(*args)
    monkeypatch.undo()
    assert meta.read_text() == before
    run(*args)


def test_written_whole_replaces_the_target_only_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), written_whole(target) as partial:
        partial.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["record.json"]
    with written_whole(target) as partial:
        partial.write_text("new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_resumes_after_an_interruption(reviews_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [reviews_csv, "--column", "review", "--op", "swap:p=0.3", "--op", "delete", "--copies", "3",
            "--chunk-size", "4"]
    run(*args, "--out", tmp_path / "fresh.jsonl")
    out = tmp_path / "views.jsonl"
    real_write, calls = ViewWriter.write, []

    def interrupted(self: ViewWriter, records: list[dict]) -> None:
        calls.append(len(records))
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(self, records)

    monkeypatch.setattr(ViewWriter, "write", interrupted)
    with pytest.raises(SystemExit) as stop:
        run(*args, "--out", out)
    assert stop.value.code == 130
    assert len(read_jsonl(out)) == 2 * 4 * 3
    monkeypatch.setattr(ViewWriter, "write", real_write)
    with out.open("a") as handle:
        handle.write('{"row": 8, "copy": 0, "trunc')  # a write cut off mid-line
    run(*args, "--out", out)
    assert out.read_text() == (tmp_path / "fresh.jsonl").read_text()
    # running it once more finds every row done and leaves the output as it is
    run(*args, "--out", out)
    assert out.read_text() == (tmp_path / "fresh.jsonl").read_text()


def test_refuses_to_mix_runs_and_overwrites_on_request(reviews_csv: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "views.jsonl"
    run(reviews_csv, "--column", "review", "--op", "swap", "--out", out)
    with pytest.raises(SystemExit) as stop:
        run(reviews_csv, "--column", "review", "--op", "swap", "--seed", "1", "--out", out)
    assert stop.value.code == 2 and "different run" in capsys.readouterr().err
    run(reviews_csv, "--column", "review", "--op", "swap", "--seed", "1", "--out", out, "--overwrite")
    assert {r["seed"] for r in read_jsonl(out)} == {1}


def test_parquet_output_and_workers_match_a_single_process(reviews_csv: Path, tmp_path: Path) -> None:
    args = [reviews_csv, "--column", "review", "--op", "uniform:p=0.3", "--copies", "2", "--chunk-size", "5"]
    run(*args, "--out", tmp_path / "one.parquet")
    run(*args, "--out", tmp_path / "two.parquet", "--workers", "2")
    one, two = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet")
    assert len(one) == 2 * len(REVIEWS) and one.equals(two)
    assert json.loads(one["params"][0])["p"] == 0.3
    assert not (tmp_path / "one.parquet.parts").exists()


def test_builtin_dataset_and_jsonl_input(tmp_path: Path) -> None:
    out = tmp_path / "rt.jsonl"
    run("rotten_tomatoes", "--split", "dev", "--limit", "5", "--op", "delete:p=0.2", "--out", out)
    rows = read_jsonl(out)
    assert len(rows) == 5 and {"text", "label", "augmented"} <= set(rows[0])
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in REVIEWS[:4]))
    run(jsonl, "--op", "swap", "--out", tmp_path / "out.jsonl")
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 4


@pytest.mark.parametrize("argv, message", [
    (["{csv}", "--column", "nope", "--op", "swap"], "no column 'nope'; columns are review, label"),
    (["{empty}", "--op", "swap"], "the file is empty"),
    (["{csv}", "--column", "review", "--op", "shuffle"], "unknown op 'shuffle'"),
    (["{csv}", "--column", "review", "--op", "tfidf:q=1"], "unknown parameter 'q'"),
    (["{csv}", "--column", "review", "--op", "swap:p=2"], "p must be in [0, 1]"),
    (["{csv}", "--column", "label", "--op", "swap"], "does not hold text"),
    (["missing.csv", "--op", "swap"], "no such file"),
    (["no_such_dataset", "--op", "swap"], "not a built-in dataset"),
    (["{csv}", "--column", "review"], "no op given"),
])
def test_bad_input_is_one_clear_error(argv: list[str], message: str, reviews_csv: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.csv").write_text("")
    argv = [a.format(csv=reviews_csv, empty=tmp_path / "empty.csv") for a in argv]
    with pytest.raises(SystemExit) as stop:
        run(*argv, "--out", tmp_path / "x.jsonl")
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2
    assert err.startswith("augment: error:") and message in err and "\n" not in err


def test_console_command_prints_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "augment.cli", str(tmp_path / "none.csv"), "--op", "swap",
                             "--out", str(tmp_path / "x.jsonl")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"augment: error: {tmp_path / 'none.csv'}: no such file"
