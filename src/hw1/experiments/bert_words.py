"""The words of Part 1's figures that text/figures.yaml does not have yet (text/figures_part1.yaml).

They are kept apart because text/figures.yaml is read by hw1.plots, which every experiment imports:
a key added there changes every experiment's code key and would force a rerun of all of them. Fold
this file into text/figures.yaml when the other experiments are next rerun.
"""

from __future__ import annotations

from pathlib import Path

from hw1 import plots

READS = ("text/figures_part1.yaml",)
_table: dict | None = None


def _words() -> dict:
    global _table
    if _table is None:
        import yaml

        _table = yaml.safe_load((Path(__file__).resolve().parents[3] / READS[0]).read_text(encoding="utf-8"))
    return _table


class Words(plots.Words):
    """hw1.plots.Words that also knows text/figures_part1.yaml."""

    def __init__(self, w: plots.Words):
        super().__init__(w.lang)

    def __call__(self, key: str, **values) -> str:
        if key not in _words():
            return super().__call__(key, **values)
        return self.line(
            _words()[key][self.lang].format(
                **{k: self.digits(v) if isinstance(v, (int, str)) else v for k, v in values.items()}
            )
        )
