"""Files and folders written whole or not at all (`textssl.atomic`), the one helper every writer uses."""

import pytest

from textssl.atomic import completed, write_whole, written_whole
from conftest import dead_pid


class Killed(BaseException):
    """Stands for a kill in the middle of a write."""


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_write_replaces_the_target_whole_or_leaves_it_as_it_was(tmp_path, kind):
    target = tmp_path / "model"

    def write(text: str) -> None:
        with written_whole(target) as temporary:
            if kind == "folder":
                temporary.mkdir()
                (temporary / "weights").write_text(text)
            else:
                temporary.write_text(text)
            if text == "killed":
                raise Killed

    def read() -> str:
        return (target / "weights" if kind == "folder" else target).read_text()

    write("old")
    with pytest.raises(Killed):
        write("killed")
    assert read() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left
    write("new")
    assert read() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_killed_writers_leftovers_go_and_a_live_writers_stay(tmp_path):
    target = tmp_path / "rotten_tomatoes-v1"
    abandoned, live = target.with_name(f"{target.name}.tmp{dead_pid()}"), target.with_name(f"{target.name}.tmp1")
    for folder in (abandoned, live):  # pid 1 runs as long as the machine does
        folder.mkdir()
        (folder / "part").write_text("half written")
    with written_whole(target) as folder:
        folder.mkdir()
        (folder / "data").write_text("whole")
    assert (target / "data").read_text() == "whole"
    assert sorted(path.name for path in tmp_path.iterdir()) == [target.name, live.name]


def test_a_folder_half_deleted_by_a_kill_does_not_block_the_next_swap_and_a_kill_between_renames_keeps_the_old(
        tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (tmp_path / "model.old").mkdir()  # the previous version, killed half way through its rmtree
    (tmp_path / "model.old" / "left").write_text("")
    with written_whole(target) as folder:
        folder.mkdir()
        (folder / "weights").write_text("2")
    assert (target / "weights").read_text() == "2" and not (tmp_path / "model.old").exists()
    target.rename(tmp_path / "model.old")  # killed between the two renames of the next swap
    assert (completed(target) / "weights").read_text() == "2"


def test_a_text_file_written_whole_keeps_its_old_text_when_killed(tmp_path, monkeypatch):
    """config.yaml is rewritten by every start of a run: a kill then must not leave it empty."""
    path = tmp_path / "config.yaml"
    write_whole(path, "old")

    def killed(*_):
        raise Killed

    monkeypatch.setattr("textssl.atomic.os.replace", killed)
    with pytest.raises(Killed):
        write_whole(path, "new")
    assert path.read_text() == "old"


def test_a_cache_another_writer_put_in_place_meanwhile_stays(tmp_path):
    target = tmp_path / "mnist_5k-v1"
    with written_whole(target, replace=False) as mine:
        mine.write_text("mine")
        target.write_text("theirs, which they are reading")  # a concurrent run finished first
    assert target.read_text() == "theirs, which they are reading" and not mine.exists()
    with written_whole(tmp_path / "absent", replace=False) as mine:
        mine.write_text("mine")
    assert (tmp_path / "absent").read_text() == "mine"
