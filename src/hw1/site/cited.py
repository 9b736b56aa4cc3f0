"""Values a page cites rather than computes: text/references.yaml.

Every number on the site comes from results/ (R.), the configurations, the original report (O.) or
this file. An entry is one value with what it measures and where it comes from:

    segnet_basic_miou:
      kind: literature            # literature | dataset | target | rule
      value: 0.463                # a number or a list of numbers
      percent: true               # shown as a percentage (optional)
      digits: 1                   # decimals shown (optional; 0 for whole numbers)
      show: "{0}×{0}"             # how the value is written (optional; {0} {1} are the formatted values;
                                  # a mapping {en: ..., fa: ...} when the words differ)
      measures: {en: "...", fa: "..."}
      source: "Badrinarayanan et al., 2017 (SegNet), Table 2"     # or {en: ..., fa: ...}
      url: https://arxiv.org/abs/1511.00561     # optional

`kind: target` is a goal set for this report (its verdict sentence says whether a run met it: `meets`);
`kind: rule` is a margin that chooses a verdict sentence (`compare`, `rising`): both are decided here,
in Python, so that the two languages' pages cannot disagree.

In a page: `REF.<key>` is the value (for num/pct or arithmetic), `cite("<key>")` the value written in
the page's language with a reference mark, and `references()` (at the end of the page) the list of the
values the page cited, each with what it measures and its source.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hw1.site.formulas import with_math

KINDS = ("literature", "dataset", "target", "rule")
HEADING = {"fa": "مقدارهای نقل‌شده", "en": "Cited values"}
KIND_WORDS = {
    "fa": {
        "literature": "منبع",
        "dataset": "مستندات داده",
        "target": "هدفِ این گزارش",
        "rule": "قاعدهٔ این گزارش",
    },
    "en": {
        "literature": "source",
        "dataset": "dataset documentation",
        "target": "target set for this report",
        "rule": "rule of this report",
    },
}
INTRO = {
    "fa": "عددهایی از این صفحه که این مخزن محاسبه نمی‌کند، هر کدام با آنچه می‌سنجد و منبعش "
    "(از text/references.yaml):",
    "en": "The numbers of this page that this repository does not compute, each with what it measures "
    "and its source (from text/references.yaml):",
}
LIST_SEP = {"fa": "، ", "en": ", "}


class ReferenceError_(Exception):
    """A missing or malformed entry of text/references.yaml (the hook turns it into a build error)."""


def load(path: Path) -> dict[str, dict]:
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}
    for key, entry in entries.items():
        where = f"text/references.yaml: {key}"
        if not isinstance(entry, dict):
            raise ReferenceError_(f"{where}: expected a mapping")
        missing = [f for f in ("kind", "value", "measures", "source") if f not in entry]
        if missing:
            raise ReferenceError_(f"{where}: missing {', '.join(missing)}")
        if entry["kind"] not in KINDS:
            raise ReferenceError_(f"{where}: kind {entry['kind']!r} is not one of {', '.join(KINDS)}")
        values = entry["value"] if isinstance(entry["value"], list) else [entry["value"]]
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ReferenceError_(f"{where}: value must be a number or a list of numbers")
        if not all(isinstance(entry["measures"], dict) and entry["measures"].get(lang) for lang in HEADING):
            raise ReferenceError_(f"{where}: measures needs en and fa")
        show = entry.get("show")
        if isinstance(show, dict) and not all(show.get(lang) for lang in HEADING):
            raise ReferenceError_(f"{where}: show needs en and fa")
    return entries


class PageCitations:
    """The citations of one page, in the order of first use (their numbers)."""

    def __init__(
        self, entries: dict[str, dict], lang: str, fmt: Callable[..., str], digits: Callable[[Any], str]
    ):
        self.entries, self.lang, self.fmt, self.digits = entries, lang, fmt, digits
        self.order: list[str] = []

    def entry(self, key: str) -> dict:
        if key not in self.entries:
            raise ReferenceError_(f"text/references.yaml has no key {key!r}")
        if key not in self.order:
            self.order.append(key)
        return self.entries[key]

    def value(self, key: str) -> Any:
        return self.entry(key)["value"]

    def number(self, key: str) -> int:
        self.entry(key)
        return self.order.index(key) + 1

    def mark(self, key: str) -> str:
        return (
            f'<sup class="hw1-cite"><a href="#ref-{html.escape(key)}">'
            f"[{self.digits(self.number(key))}]</a></sup>"
        )

    def shown(self, key: str, index: int | None = None) -> str:
        """The value as the page writes it (digits and separators of the page's language); with an
        index, that one number of a list (without the entry's `show`)."""
        e = self.entry(key)
        values = e["value"] if isinstance(e["value"], list) else [e["value"]]
        if index is not None:
            if not -len(values) <= index < len(values):
                raise ReferenceError_(f"text/references.yaml: {key} has no value number {index}")
            e, values = {k: v for k, v in e.items() if k != "show"}, [values[index]]
        scale = 100 if e.get("percent") else 1
        digits = e.get("digits", 0 if all(round(float(v) * scale, 9).is_integer() for v in values) else 2)
        texts = [
            self.fmt(v, digits, percent=bool(e.get("percent")), group=digits == 0 and not e.get("percent"))
            for v in values
        ]
        show = e.get("show")
        if isinstance(show, dict):
            show = show[self.lang]
        return show.format(*texts) if show else LIST_SEP[self.lang].join(texts)

    def cite(self, key: str, index: int | None = None) -> str:
        return self.shown(key, index) + self.mark(key)

    def section(self) -> str:
        """The page's list of cited values (Markdown heading + HTML list), or '' when it cited none."""
        if not self.order:
            return ""
        words = KIND_WORDS[self.lang]
        items = []
        for key in self.order:
            e = self.entries[key]
            source = e["source"][self.lang] if isinstance(e["source"], dict) else e["source"]
            source = html.escape(source)
            if e.get("url"):
                source = f'<a href="{html.escape(e["url"])}">{source}</a>'
            items.append(
                f'<li id="ref-{html.escape(key)}"><strong>{with_math(self.shown(key))}</strong>: '
                f"{html.escape(e['measures'][self.lang])} ({words[e['kind']]}: "
                f'<span dir="auto">{source}</span>)</li>'
            )
        return (
            f"\n## {HEADING[self.lang]} {{: #cited-values }}\n\n{INTRO[self.lang]}\n\n"
            f'<ol class="hw1-references" markdown="0">\n' + "\n".join(items) + "\n</ol>\n"
        )


def meets(value: float, target: dict) -> bool:
    """Whether a run's value meets a target entry (`at_most: true` for a bound from above)."""
    bound = float(target["value"])
    return value <= bound if target.get("at_most") else value >= bound


def compare(a: float, b: float, margin: float) -> str:
    """'higher', 'lower' or 'level': a against b, a difference within the margin being none."""
    if a > b + margin:
        return "higher"
    if a < b - margin:
        return "lower"
    return "level"
