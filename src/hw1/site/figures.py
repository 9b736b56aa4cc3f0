"""Figures and tables of a page (the template functions figure, table, html_table, image_grid,
glossary_table): numbered per page in its language, cells formatted and looked up in the glossary."""

from __future__ import annotations

import html
import re
from typing import Any

from markupsafe import Markup

from hw1.site.formulas import plain_math, with_math
from hw1.site.results import ResultError
from hw1.site.words import words

PERSIAN_ALPHABET = "آاأإءبپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیئ"


def persian_key(text: str) -> list[int]:
    """Sort key in the order of the Persian alphabet (code points put پ چ ژ گ after ی)."""
    return [
        PERSIAN_ALPHABET.index(c) if c in PERSIAN_ALPHABET else 100 + ord(c)
        for c in text.replace("\u200c", "")
    ]


class Verbatim(str):
    """A table cell printed as it is (not looked up in the glossary)."""


class NotComputed(str):
    """A table cell for an experiment without results: printed as is, in the page's language."""


class Figures:
    """The figure and table functions of PageRenderer (hw1.site.templates), which keeps the counters."""

    def figure(
        self, experiment: str, name: str, caption: str, alt: str | None = None, width: str | None = None
    ) -> Markup:
        folder = self.results.root / experiment / "figures"
        # A figure drawn per language is <name>.<lang>.svg; one without words (a photo, a mask) is <name>.svg.
        candidates = [
            folder / f"{name}{suffix}"
            for suffix in (f".{self.lang}.svg", f".{self.lang}.png", ".svg", ".png")
        ]
        matches = [p for p in candidates if p.is_file()]
        if not matches:
            raise ResultError(
                f"results/{experiment}/figures/{name}.{self.lang}.svg, {name}.svg or .png does not exist"
            )
        self.figures += 1
        w = words("page", self.lang)
        src = self.url(f"results/{experiment}/figures/{matches[0].name}")
        label = f"{w['figure']} {self.digits(self.figures)}"
        style = f' style="width:{width}"' if width else ""
        return Markup(
            f'\n<figure class="hw1-figure" id="fig-{experiment}-{name}">\n'
            # the image opens alone when clicked: a phone reader can zoom into a wide figure
            f'<a class="hw1-figure__open" href="{src}"><img src="{src}" alt="{html.escape(plain_math(alt or caption))}" '
            f'loading="lazy"{style}></a>\n'
            f"<figcaption><strong>{label}{w['sep']}</strong>{with_math(html.escape(caption))}</figcaption>\n"
            f"</figure>\n"
        )

    def _cell(self, value: Any, digits: int) -> str:
        if isinstance(value, bool):
            return self.t("yes" if value else "no")
        if isinstance(value, int):
            return self.int_(value)
        if isinstance(value, float):
            return self.num(value, digits)
        if value is None:
            return "—"
        if isinstance(value, NotComputed):
            return f"<em>{html.escape(value)}</em>"
        if isinstance(value, Verbatim):
            return html.escape(value)
        return with_math(html.escape(self.t(str(value))))

    def table(
        self,
        experiment: str,
        name: str,
        caption: str,
        headers: list[str] | None = None,
        digits: int = 3,
        columns: list[str] | None = None,
    ) -> Markup:
        data = self.results.json(experiment, f"tables/{name}.json")
        all_columns = data["columns"]
        keep = [all_columns.index(c) for c in columns] if columns else list(range(len(all_columns)))
        if headers is not None and len(headers) != len(keep):
            raise ResultError(f"table {experiment}/{name}: {len(headers)} headers for {len(keep)} columns")
        heads = headers if headers is not None else [self.t(all_columns[i]) for i in keep]
        rows = [[row[i] for i in keep] for row in data["rows"]]
        return self.html_table(caption, heads, rows, digits, anchor=f"tab-{experiment}-{name}")

    def html_table(
        self, caption: str, headers: list[str], rows: list[list[Any]], digits: int = 3, anchor: str = ""
    ) -> Markup:
        self.tables += 1
        w = words("page", self.lang)
        label = f"{w['table']} {self.digits(self.tables)}"
        head = "".join(f"<th>{with_math(html.escape(str(h)))}</th>" for h in headers)
        body = "\n".join(
            "<tr>" + "".join(f"<td>{self._cell(v, digits)}</td>" for v in row) + "</tr>" for row in rows
        )
        ident = f' id="{anchor}"' if anchor else ""
        return Markup(
            f'\n<div class="hw1-table"{ident} markdown="0">\n<table>\n'
            f"<caption><strong>{label}{w['sep']}</strong>{with_math(html.escape(caption))}</caption>\n"
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n</div>\n"
        )

    def image_grid(
        self, experiment: str, name: str, caption: str, alt: str | None = None, preds: dict | None = None
    ) -> Markup:
        """A grid of tiles from data/<name>.json: [{"image": "figures/x.png", "true": k, "pred": k, ...}].

        preds: {key in the tile: label} for the predictions to show, e.g. {"pred_mlp": "MLP"};
        default {"pred": the word 'predicted'}; {} shows the true label alone (a dataset sample).
        A tile is marked wrong when its first shown prediction differs from the true label."""
        tiles = self.results.json(experiment, f"data/{name}.json")
        self.figures += 1
        w = words("page", self.lang)
        preds = {"pred": w["pred"]} if preds is None else preds
        items = []
        for tile in tiles:
            image = tile["image"]
            if not (self.results.root / experiment / image).is_file():
                raise ResultError(f"results/{experiment}/{image} (listed in data/{name}.json) does not exist")
            true = self.t(tile["true"])
            shown = [(label, tile[key]) for key, label in preds.items()]
            ok = "ok" if not shown or shown[0][1] == tile["true"] else "wrong"
            spans = "".join(
                f"<span>{html.escape(label)}: {html.escape(self.t(value))}</span>" for label, value in shown
            )
            true_label = w["true"] if shown else w.get("label", w["true"])
            items.append(
                f'<div class="hw1-tile hw1-{ok}"><img src="{self.url(f"results/{experiment}/{image}")}" '
                f'alt="{html.escape(true_label)}: {html.escape(true)}">'
                f"<span>{html.escape(true_label)}: {html.escape(true)}</span>{spans}</div>"
            )
        label = f"{w['figure']} {self.digits(self.figures)}"
        return Markup(
            f'\n<figure class="hw1-figure" id="fig-{experiment}-{name}" '
            f'aria-label="{html.escape(alt or caption)}">\n'
            f'<div class="hw1-grid">{"".join(items)}</div>\n'
            f"<figcaption><strong>{label}{w['sep']}</strong>{html.escape(caption)}</figcaption>\n"
            f"</figure>\n"
        )

    def glossary_table(self) -> Markup:
        """The terms of text/glossary.yaml (`term: true`), Persian <-> English, in this page's alphabetical
        order, with the variants the pages avoid (tests/test_terms.py flags them)."""
        terms = [e for e in self.glossary.values() if isinstance(e, dict) and e.get("term")]

        def shown(e: dict) -> str:
            return (
                "، ".join(
                    v
                    for v in (re.sub(r"\\b", "", a) for a in e.get("avoid", []))
                    if not re.search(r"[\[\]()?|*+\\]", v)
                )
                or "—"
            )

        if self.lang == "fa":
            terms.sort(key=lambda e: persian_key(e["fa"]))
            rows = [[e["fa"], e["en"], shown(e)] for e in terms]
        else:
            terms.sort(key=lambda e: e["en"].lower())
            rows = [[e["en"], e["fa"], shown(e)] for e in terms]
        labels = words("glossary_table", self.lang)
        return self.html_table(labels["caption"], labels["head"], [[Verbatim(c) for c in r] for r in rows])
