from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from textssl.atomic import write_whole


class MetricsLog:
    """Append-only JSON-lines log, one object per line with a `step`.

    Opening it for a run that resumes at `after_step` drops the lines a killed run wrote
    after its last checkpoint, so the log of a resumed run equals an uninterrupted one.
    """

    def __init__(self, path: Path, after_step: int = 0, enabled: bool = True,
                 also: Callable[..., None] | None = None):
        """`also(values, step=step)` receives every write too (accelerate's trackers)."""
        self.path, self.enabled, self.also = Path(path), enabled, also
        if not enabled:
            return
        kept = []
        if self.path.is_file() and after_step > 0:
            for line in self.path.read_text().splitlines():
                try:
                    step = json.loads(line)["step"]
                except ValueError:  # a line cut off by a kill: the last one, from after the checkpoint
                    break
                if step <= after_step:
                    kept.append(line)
        write_whole(self.path, "".join(line + "\n" for line in kept))

    def write(self, step: int, values: dict[str, float]) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps({"step": step, **values}) + "\n")
            if self.also:  # trackers take numbers: a list such as dev/predicted_share stays in the file
                self.also({key: value for key, value in values.items() if isinstance(value, (int, float))}, step=step)
