"""MkDocs hook: pages are Jinja templates filled from results/ at build time.

This module knows files, numbers, languages and captions; it knows nothing of machine learning.
Names available in a page are listed in CONTRIBUTING.md. Any undefined name or missing result
key fails the build with a message that names the page, the experiment and the key.
"""
from __future__ import annotations

import atexit
import html
import json
import os
import posixpath
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import yaml
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File
from markupsafe import Markup

# MkDocs loads this file by path; hw1 itself is installed (`pip install --no-deps -e .`).
from hw1.experiments import EXPERIMENTS  # the registry; imports no ML library
from hw1.digits import persian, persian_digits
from hw1 import report
from hw1.site import cited
from hw1.site.formulas import plain_math, with_math
from hw1.site.bidi import isolate
from hw1.site.notebook import notebook_html

ROOT = Path(__file__).resolve().parents[3]
RESULTS = Path(os.environ.get("HW1_RESULTS", ROOT / "results")).resolve()  # tests point it elsewhere
TEXT = ROOT / "text"
CONFIGS = ROOT / "configs"
RESULT_SUFFIXES = {".svg", ".png", ".jpg", ".json"}
LANGUAGES = ("fa", "en")


WORDS = {
    "fa": {"figure": "شکل", "table": "جدول", "not_computed": "هنوز محاسبه نشده است",
           "not_computed_body": "نتایج آزمایش «{name}» هنوز در پوشهٔ results/ نیست. برای محاسبهٔ آن:",
           "true": "درست", "pred": "پیش‌بینی", "label": "برچسب", "sep": ": "},
    "en": {"figure": "Figure", "table": "Table", "not_computed": "Not computed yet",
           "not_computed_body": "The results of experiment “{name}” are not in results/ yet. To compute them:",
           "true": "true", "pred": "predicted", "label": "label", "sep": ": "},
}


PROVENANCE_LABELS = {
    "fa": {"profile": "پروفایل", "device": "سخت‌افزار", "versions": "نسخه‌ها", "commit": "نسخهٔ کد (git)",
           "code": "چکیدهٔ کد", "config": "چکیدهٔ پیکربندی", "inputs": "داده‌ها و ورودی‌ها",
           "seed": "بذر تصادفی", "started": "زمان شروع (UTC)", "duration": "مدت (ثانیه)",
           "caption": "خاستگاه نتایج آزمایش {name}", "head": ["مورد", "مقدار"],
           "config_full": "پیکربندی کامل", "precision": "دقت محاسبه", "threads": "شمار رشته‌ها",
           "overrides": "تغییرهای پیکربندی از خط فرمان"},
    "en": {"profile": "profile", "device": "hardware", "versions": "versions", "commit": "code version (git)",
           "code": "code hash", "config": "configuration hash", "inputs": "data and inputs",
           "seed": "random seed", "started": "started (UTC)", "duration": "duration (s)",
           "caption": "Provenance of experiment {name}", "head": ["item", "value"],
           "config_full": "full configuration", "precision": "precision", "threads": "threads",
           "overrides": "command-line overrides"},
}


VERIFY_LABELS = {
    "fa": {"caption": "بازاجرای آزمایش {name} برای وارسی (build_results.py --verify)",
           "head": ["معیار", "نتیجهٔ ثبت‌شده", "بازاجرا", "|اختلاف|", "رواداری", "نتیجه"],
           "ok": "در حد رواداری", "fail": "بیرون از رواداری",
           "summary": "بازاجرا در {date} روی {device}، با دقت {precision} و {threads} رشته: {result}؛ "
                      "بیشترین اختلاف {max}.",
           "passed": "همهٔ معیارها در حد رواداری‌اند", "failed": "دست‌کم یک معیار بیرون از رواداری است"},
    "en": {"caption": "Rerun check of experiment {name} (build_results.py --verify)",
           "head": ["metric", "committed", "rerun", "|difference|", "tolerance", "result"],
           "ok": "within tolerance", "fail": "outside tolerance",
           "summary": "Rerun on {date} on {device}, {precision}, {threads} threads: {result}; "
                      "largest difference {max}.",
           "passed": "every metric within its tolerance", "failed": "at least one metric outside its tolerance"},
}


# A warning at the top of every page when results/ holds results made with command-line overrides
# (--max-steps, --set, --pretrained into results/ with --results): not what their profile makes.
OVERRIDES_NOTE = {
    "fa": ("نتایج با تغییر پیکربندی از خط فرمان",
           "این وبگاه نتایجی را نشان می‌دهد که با تغییر پیکربندی از خط فرمان ساخته شده‌اند، نه با پیکربندی "
           "پروفایل خودشان: {details}"),
    "en": ("Results made with command-line overrides",
           "This site shows results made with command-line overrides, not with their profile's own "
           "configuration: {details}"),
}


def describe_overrides(overrides: dict, values: bool) -> str:
    """'--max-steps 5, batch_size=32' (values) or '--max-steps 5, batch_size' from provenance's `overrides`."""
    given = (overrides.get("values") or {}).items()
    return ", ".join(([f"--max-steps {overrides['max_steps']}"] if overrides.get("max_steps") else [])
                     + [f"{k}={json.dumps(v)}" if values else k for k, v in given])


class ResultError(PluginError):
    pass




# ----- numbers ------------------------------------------------------------------------------------

def format_number(value: Any, digits: int, lang: str, percent: bool = False, group: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        raise ResultError(f"expected a number, got the string {value!r}")
    number = float(value) * (100 if percent else 1)
    if number != 0 and abs(number) < 0.5 * 10 ** -digits and not group:
        # Too small for the fixed decimals (e.g. a 2.7e-05 difference): a × 10^b, never a bare 0.000.
        mantissa, exponent = f"{number:.1e}".split("e")
        power = f"10<sup>{'−' if int(exponent) < 0 else ''}{abs(int(exponent))}</sup>"
        if lang == "fa":
            return persian(mantissa) + " × " + persian_digits(power)
        return f"{mantissa} × {power}"
    text = f"{number:,.{digits}f}" if group else f"{number:.{digits}f}"
    if lang == "fa":
        return persian(text) + ("٪" if percent else "")
    return text + ("%" if percent else "")


# ----- results access with clear errors -----------------------------------------------------------

class Reported(float):
    """A number as a report wrote it: compares and formats as a float, keeps its digits in .text."""

    def __new__(cls, text: Any):
        number = super().__new__(cls, float(text))
        number.text = str(text)
        return number


class Node:
    """Attribute/item access into a metrics.json that names experiment and key when one is missing."""

    def __init__(self, value: Any, experiment: str, path: str):
        self._value, self._experiment, self._path = value, experiment, path

    def _child(self, key: str) -> Any:
        value = self._value
        if isinstance(value, dict) and key in value:
            child = value[key]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", str(key)) and -len(value) <= int(key) < len(value):
            child = value[int(key)]
        else:
            where = f"{self._path}.{key}" if self._path else key
            raise ResultError(f"results/{self._experiment}/metrics.json has no key '{where}'")
        path = f"{self._path}.{key}" if self._path else str(key)
        return Node(child, self._experiment, path) if isinstance(child, (dict, list)) else child

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self._child(key)

    def __getitem__(self, key) -> Any:
        return self._child(str(key))

    def __iter__(self):
        value = self._value
        return iter(value.keys() if isinstance(value, dict) else value)

    def __len__(self):
        return len(self._value)

    def __contains__(self, key) -> bool:     # {% if "key" in R.experiment.part %} for optional keys
        return key in self._value

    def items(self):
        return [(k, self._child(k)) for k in self._value]

    def raw(self):
        return self._value


def read_json(path: Path, shown: str) -> Any:
    """json.loads of a results file; a damaged one fails the build with one line that names it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultError(f"{shown} is unreadable ({error}); rerun that experiment: "
                          f"python build_results.py --only {shown.split('/')[1]}") from None


class Results:
    def __init__(self, root: Path):
        self.root = root

    def exists(self, experiment: str) -> bool:
        return (self.root / experiment / "metrics.json").is_file()

    def metrics(self, experiment: str) -> Node:
        path = self.root / experiment / "metrics.json"
        if not path.is_file():
            raise ResultError(f"results/{experiment}/metrics.json does not exist: wrap the part of the "
                              f"page that uses it in {{% call computed(\"{experiment}\") %}}")
        return Node(read_json(path, f"results/{experiment}/metrics.json"), experiment, "")

    def json(self, experiment: str, relative: str) -> Any:
        path = self.root / experiment / relative
        if not path.is_file():
            raise ResultError(f"results/{experiment}/{relative} does not exist")
        return read_json(path, f"results/{experiment}/{relative}")

    def provenance(self) -> list[dict]:
        found = []
        for path in sorted(self.root.glob("*/provenance.json")):
            found.append(read_json(path, f"results/{path.parent.name}/provenance.json"))
        return found

    def overridden(self) -> dict[str, dict]:
        """{experiment: its provenance's `overrides`} for the results made with command-line overrides."""
        return {p["experiment"]: p["overrides"] for p in self.provenance() if p.get("overrides")}

    def verify(self, experiment: str) -> dict | None:
        """results/<name>/verify.json (written by build_results.py --verify), or None."""
        path = self.root / experiment / "verify.json"
        return read_json(path, f"results/{experiment}/verify.json") if path.is_file() else None


class Lookup:
    """name.<key> and name[key] in templates, both answered by lookup(key): R.<experiment> (its
    metrics.json) and REF.<key> (an entry of text/references.yaml, cited on the page)."""

    def __init__(self, lookup):
        self._lookup = lookup

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self._lookup(key)

    __getitem__ = __getattr__


PERSIAN_ALPHABET = "آاأإءبپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیئ"


def persian_key(text: str) -> list[int]:
    """Sort key in the order of the Persian alphabet (code points put پ چ ژ گ after ی)."""
    return [PERSIAN_ALPHABET.index(c) if c in PERSIAN_ALPHABET else 100 + ord(c) for c in text.replace("\u200c", "")]


class Verbatim(str):
    """A table cell printed as it is (not looked up in the glossary)."""


class NotComputed(str):
    """A table cell for an experiment without results: printed as is, in the page's language."""


# ----- page rendering -----------------------------------------------------------------------------

class PageRenderer:
    """Renders one page: keeps that page's figure and table counters and its language."""

    def __init__(self, results: Results, glossary: dict, original: dict, lang: str, page_url: str,
                 env: jinja2.Environment, references: dict | None = None):
        self.results, self.glossary, self.lang, self.env = results, glossary, lang, env
        self.original = original
        self.citations = cited.PageCitations(
            references or {}, lang, lambda v, d, percent=False, group=False: format_number(v, d, lang, percent, group),
            self.digits)
        self.page_url = page_url
        self.figures = 0
        self.tables = 0
        self._derived: dict[str, Node] = {}     # D.<experiment>, per page

    # paths from this page to a site file
    def url(self, site_path: str) -> str:
        page_dir = posixpath.dirname(self.page_url.rstrip("/") + "/index.html") if self.page_url else ""
        return posixpath.relpath(site_path, page_dir or ".")

    def t(self, key: Any) -> str:
        if not isinstance(key, str):
            return self.num(key, 3) if isinstance(key, float) else self.int_(key) if isinstance(key, int) else str(key)
        entry = self.glossary.get(key)
        if entry is None:
            return key
        if self.lang not in entry:
            raise ResultError(f"text/glossary.yaml: term {key!r} has no {self.lang!r} text")
        return entry[self.lang]

    def num(self, value: Any, digits: int = 3) -> str:
        return format_number(value, digits, self.lang)

    def pct(self, value: Any, digits: int = 1) -> str:
        return format_number(value, digits, self.lang, percent=True)

    def int_(self, value: Any) -> str:
        return format_number(value, 0, self.lang, group=True)

    def digits(self, text: Any) -> str:
        return persian_digits(text) if self.lang == "fa" else str(text)

    def exact(self, value: Any) -> str:
        """A reported number with all the digits it was written with (text/original_report.yaml)."""
        text = getattr(value, "text", None) or repr(value)
        return persian(text) if self.lang == "fa" else text

    def computed(self, experiment: str, caller=None) -> Markup:
        if self.results.exists(experiment):
            return Markup(caller()) if caller else Markup("")
        w = WORDS[self.lang]
        body = w["not_computed_body"].format(name=experiment)
        return Markup(f'\n!!! warning "{w["not_computed"]}"\n    {body}\n\n'
                      f'    ```\n    python build_results.py --only {experiment}\n    ```\n\n')

    def figure(self, experiment: str, name: str, caption: str, alt: str | None = None,
               width: str | None = None) -> Markup:
        folder = self.results.root / experiment / "figures"
        # A figure drawn per language is <name>.<lang>.svg; one without words (a photo, a mask) is <name>.svg.
        candidates = [folder / f"{name}{suffix}" for suffix in
                      (f".{self.lang}.svg", f".{self.lang}.png", ".svg", ".png")]
        matches = [p for p in candidates if p.is_file()]
        if not matches:
            raise ResultError(f"results/{experiment}/figures/{name}.{self.lang}.svg, {name}.svg or .png "
                              "does not exist")
        self.figures += 1
        w = WORDS[self.lang]
        src = self.url(f"results/{experiment}/figures/{matches[0].name}")
        label = f"{w['figure']} {self.digits(self.figures)}"
        style = f' style="width:{width}"' if width else ""
        return Markup(
            f'\n<figure class="hw1-figure" id="fig-{experiment}-{name}">\n'
            # the image opens alone when clicked: a phone reader can zoom into a wide figure
            f'<a class="hw1-figure__open" href="{src}"><img src="{src}" alt="{html.escape(plain_math(alt or caption))}" '
            f'loading="lazy"{style}></a>\n'
            f'<figcaption><strong>{label}{w["sep"]}</strong>{with_math(html.escape(caption))}</figcaption>\n'
            f'</figure>\n')

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

    def table(self, experiment: str, name: str, caption: str, headers: list[str] | None = None,
              digits: int = 3, columns: list[str] | None = None) -> Markup:
        data = self.results.json(experiment, f"tables/{name}.json")
        all_columns = data["columns"]
        keep = [all_columns.index(c) for c in columns] if columns else list(range(len(all_columns)))
        if headers is not None and len(headers) != len(keep):
            raise ResultError(f"table {experiment}/{name}: {len(headers)} headers for {len(keep)} columns")
        heads = headers if headers is not None else [self.t(all_columns[i]) for i in keep]
        rows = [[row[i] for i in keep] for row in data["rows"]]
        return self.html_table(caption, heads, rows, digits, anchor=f"tab-{experiment}-{name}")

    def html_table(self, caption: str, headers: list[str], rows: list[list[Any]], digits: int = 3,
                   anchor: str = "") -> Markup:
        self.tables += 1
        w = WORDS[self.lang]
        label = f"{w['table']} {self.digits(self.tables)}"
        head = "".join(f"<th>{with_math(html.escape(str(h)))}</th>" for h in headers)
        body = "\n".join("<tr>" + "".join(f"<td>{self._cell(v, digits)}</td>" for v in row) + "</tr>"
                         for row in rows)
        ident = f' id="{anchor}"' if anchor else ""
        return Markup(f'\n<div class="hw1-table"{ident} markdown="0">\n<table>\n'
                      f'<caption><strong>{label}{w["sep"]}</strong>{with_math(html.escape(caption))}</caption>\n'
                      f'<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n</div>\n')

    def image_grid(self, experiment: str, name: str, caption: str, alt: str | None = None,
                   preds: dict | None = None) -> Markup:
        """A grid of tiles from data/<name>.json: [{"image": "figures/x.png", "true": k, "pred": k, ...}].

        preds: {key in the tile: label} for the predictions to show, e.g. {"pred_mlp": "MLP"};
        default {"pred": the word 'predicted'}; {} shows the true label alone (a dataset sample).
        A tile is marked wrong when its first shown prediction differs from the true label."""
        tiles = self.results.json(experiment, f"data/{name}.json")
        self.figures += 1
        w = WORDS[self.lang]
        preds = {"pred": w["pred"]} if preds is None else preds
        items = []
        for tile in tiles:
            image = tile["image"]
            if not (self.results.root / experiment / image).is_file():
                raise ResultError(f"results/{experiment}/{image} (listed in data/{name}.json) does not exist")
            true = self.t(tile["true"])
            shown = [(label, tile[key]) for key, label in preds.items()]
            ok = "ok" if not shown or shown[0][1] == tile["true"] else "wrong"
            spans = "".join(f'<span>{html.escape(label)}: {html.escape(self.t(value))}</span>' for label, value in shown)
            true_label = w["true"] if shown else w.get("label", w["true"])
            items.append(
                f'<div class="hw1-tile hw1-{ok}"><img src="{self.url(f"results/{experiment}/{image}")}" '
                f'alt="{html.escape(true_label)}: {html.escape(true)}">'
                f'<span>{html.escape(true_label)}: {html.escape(true)}</span>{spans}</div>')
        label = f"{w['figure']} {self.digits(self.figures)}"
        return Markup(f'\n<figure class="hw1-figure" id="fig-{experiment}-{name}" '
                      f'aria-label="{html.escape(alt or caption)}">\n'
                      f'<div class="hw1-grid">{"".join(items)}</div>\n'
                      f'<figcaption><strong>{label}{w["sep"]}</strong>{html.escape(caption)}</figcaption>\n'
                      f'</figure>\n')

    def data(self, experiment: str, name: str) -> Any:
        return self.results.json(experiment, f"data/{name}.json")

    def notebook(self, path: str) -> Markup:
        source = ROOT / path
        if not source.is_file():
            raise ResultError(f"notebook {path} does not exist")
        return Markup('\n<div class="hw1-notebook" markdown="0" dir="ltr">\n'
                      + notebook_html(source) + "\n</div>\n")

    def glossary_table(self) -> Markup:
        """The terms of text/glossary.yaml (`term: true`), Persian <-> English, in this page's alphabetical
        order, with the variants the pages avoid (tests/test_terms.py flags them)."""
        terms = [e for e in self.glossary.values() if isinstance(e, dict) and e.get("term")]
        shown = lambda e: "، ".join(v for v in (re.sub(r"\\b", "", a) for a in e.get("avoid", []))
                                   if not re.search(r"[\[\]()?|*+\\]", v)) or "—"
        if self.lang == "fa":
            terms.sort(key=lambda e: persian_key(e["fa"]))
            heads, rows = ["اصطلاح", "English", "به‌جای این‌ها به کار نمی‌رود"], [[e["fa"], e["en"], shown(e)] for e in terms]
            caption = "اصطلاح‌های این گزارش: یک واژهٔ فارسی برای هر مفهوم"
        else:
            terms.sort(key=lambda e: e["en"].lower())
            heads, rows = ["English", "Persian (فارسی)", "Persian variants not used"], [[e["en"], e["fa"], shown(e)] for e in terms]
            caption = "The report's terms: one Persian word for each concept"
        return self.html_table(caption, heads, [[Verbatim(c) for c in r] for r in rows])

    # ----- configurations (configs/<name>.yaml, read only) -----
    def config(self, experiment: str, profile: str) -> "Node":
        """The configuration of a profile (`common` deep-merged with `profiles.<profile>`), as the
        experiment would run it: for sentences about a profile the committed results do not come from."""
        path = CONFIGS / f"{experiment}.yaml"
        if not path.is_file():
            raise ResultError(f"configs/{experiment}.yaml does not exist")
        raw = load_yaml(path)
        profiles = raw.get("profiles") or {}
        if profile not in profiles:
            raise ResultError(f"configs/{experiment}.yaml has no profile {profile!r}")
        return Node(deep_merge(raw.get("common") or {}, profiles[profile] or {}),
                    f"../configs/{experiment}.yaml ({profile})", "")

    def ran(self, experiment: str, profile: str) -> bool:
        """Whether the committed results of an experiment come from this profile."""
        return self.results.exists(experiment) and self.provenance_of(experiment).get("profile") == profile

    # ----- cited values (text/references.yaml, hw1.site.cited) -----
    def cite(self, key: str, index: int | None = None) -> Markup:
        """A cited value written in the page's language, with its reference mark (index: one number
        of a list of values)."""
        return Markup(self.citations.cite(key, index))

    def meets(self, value: Any, key: str) -> bool:
        """Whether a run's value meets the target text/references.yaml names (cited on the page)."""
        target = self.citations.entry(key)
        if target["kind"] != "target":
            raise ResultError(f"text/references.yaml: {key} is not a target")
        return cited.meets(float(value), target)

    def compare(self, a: Any, b: Any, key: str, scale: Any = 1) -> str:
        """'higher', 'lower' or 'level' (a against b), within the margin of the rule `key` (times
        `scale`: a rule counted in standard errors is scaled by the standard error)."""
        rule = self.citations.entry(key)
        if rule["kind"] != "rule":
            raise ResultError(f"text/references.yaml: {key} is not a rule")
        return cited.compare(float(a), float(b), float(rule["value"]) * float(scale))

    def references(self) -> Markup:
        """The list of the values this page cited (call it at the end of the page)."""
        return Markup(self.citations.section())

    def provenance(self) -> list[dict]:
        return self.results.provenance()

    def provenance_of(self, experiment: str) -> dict:
        return self.results.json(experiment, "provenance.json")

    def overrides_note(self) -> str:
        """A warning (Markdown) naming the results made with command-line overrides and the keys given
        (their values are on the Provenance page); "" when none are."""
        found = self.results.overridden()
        if not found:
            return ""
        details = "; ".join(f"{name} ({describe_overrides(o, values=False)})" for name, o in found.items())
        title, body = OVERRIDES_NOTE[self.lang]
        return f'!!! warning "{title}"\n    {html.escape(body.format(details=details))}\n\n'

    def experiments_table(self, lang: str) -> list[list[Any]]:
        rows = []
        for spec in EXPERIMENTS.values():
            if self.results.exists(spec.name):
                p = self.provenance_of(spec.name)
                comma = "، " if lang == "fa" else ", "
                status = Verbatim(f"{p['profile']}{comma}{persian_digits(p['started_at'][:10]) if lang == 'fa' else p['started_at'][:10]}")
            else:
                status = NotComputed(WORDS[lang]["not_computed"])
            rows.append([Verbatim(spec.name), spec.title, status])      # a name is an identifier: as it is
        return rows

    def provenance_table(self, p: dict) -> Markup:
        labels = PROVENANCE_LABELS[self.lang]
        versions = ", ".join(f"{k} {v}" for k, v in p["versions"].items() if v)
        inputs = "; ".join(
            f"{name}: " + ", ".join(f"{k}={str(v)[:16]}" for k, v in fp.items() if k not in ("name", "path"))
            for name, fp in p["inputs"].items()) or "—"
        rows = [
            [labels["profile"], p["profile"]],
            [labels["device"], p["device_name"]],
            *([[labels["precision"], p["precision"]]] if "precision" in p else []),
            *([[labels["threads"], p["threads"]]] if "threads" in p else []),
            *([[labels["overrides"], Verbatim(describe_overrides(p["overrides"], values=True))]]
              if p.get("overrides") else []),
            [labels["versions"], versions],
            [labels["commit"], p["git_commit"]],
            [labels["code"], p["key"]["code"][:16] + " (" + ", ".join(f.rsplit("/", 1)[-1] for f in p["code_files"]) + ")"],
            [labels["config"], p["key"]["config"][:16]],
            [labels["inputs"], inputs],
            [labels["seed"], p["seed"]],
            [labels["started"], p["started_at"]],
            [labels["duration"], self.num(p["duration_s"], 1)],
        ]
        config = html.escape(yaml.safe_dump(p["config"], allow_unicode=True, sort_keys=False))
        table = self.html_table(labels["caption"].format(name=p["experiment"]), labels["head"], rows)
        return Markup(str(table) + f'\n<details><summary>{labels["config_full"]}</summary>\n'
                      f'<pre dir="ltr"><code>{config}</code></pre>\n</details>\n')

    def verify_table(self, experiment: str) -> Markup:
        """The last `build_results.py --verify` of an experiment (results/<name>/verify.json), if any."""
        v = self.results.verify(experiment)
        if v is None:
            return Markup("")
        labels = VERIFY_LABELS[self.lang]
        rows = [[r["metric"], r["committed"], r["rerun"], r["difference"], float(r["tolerance"]),
                 labels["ok"] if r["ok"] else labels["fail"]] for r in v["metrics"]]
        summary = labels["summary"].format(
            date=self.digits(v["date"][:10]), device=html.escape(str(v.get("device_name"))),
            precision=v.get("precision"), threads=self.int_(v.get("threads")),
            result=labels["passed"] if v["passed"] else labels["failed"], max=self.num(v.get("max_difference"), 4))
        table = self.html_table(labels["caption"].format(name=experiment), labels["head"], rows, digits=4)
        return Markup(f"\n{summary}\n" + str(table))

    def derived(self, experiment: str) -> Node:
        """D.<experiment>: the values and verdicts that hw1.report derives from its results and its
        configuration as run (provenance.json); derived once per page, however often the page asks."""
        if experiment not in self._derived:
            metrics = self.results.metrics(experiment).raw()
            config = self.results.json(experiment, "provenance.json").get("config")
            self._derived[experiment] = Node(report.derive(experiment, metrics, config), experiment,
                                             "(derived by hw1.report)")
        return self._derived[experiment]

    def value(self, experiment: str, dotted: str) -> Any:
        """metrics.json value at a dotted path; a 'not computed yet' marker if the experiment has no results."""
        if not self.results.exists(experiment):
            return NotComputed(WORDS[self.lang]["not_computed"])
        node: Any = self.results.metrics(experiment)
        for key in dotted.split("."):
            node = node[key]
        return node

    def render(self, markdown: str, page_name: str) -> str:
        context = {
            "lang": self.lang,
            "R": Lookup(self.results.metrics),
            "D": Lookup(self.derived), "report": report,   # report.<module>: values that need no results
            "O": Node(self.original, "../text/original_report.yaml", ""),
            "REF": Lookup(self.citations.value),
            "cite": self.cite, "meets": self.meets, "compare": self.compare, "references": self.references,
            "config": self.config, "ran": self.ran,
            "computed": self.computed, "figure": self.figure, "table": self.table,
            "html_table": self.html_table, "image_grid": self.image_grid, "t": self.t,
            "data": self.data, "notebook": self.notebook, "provenance": self.provenance,
            "provenance_of": self.provenance_of, "value": self.value,
            "experiments_table": self.experiments_table, "provenance_table": self.provenance_table,
            "verify_table": self.verify_table, "glossary_table": self.glossary_table,
            "exists": self.results.exists, "exact": self.exact, "num": self.num, "pct": self.pct, "int_": self.int_,
        }
        # CONTRIBUTING documents `{{ x | num(3) }}`: the same functions as filters, in this page's language
        self.env.filters.update(num=self.num, pct=self.pct, int_=self.int_)
        try:
            template = self.env.from_string(markdown)
            return template.render(**context)
        except (ResultError, cited.ReferenceError_) as error:
            raise PluginError(f"{page_name}: {error}") from None
        except jinja2.UndefinedError as error:
            raise PluginError(f"{page_name}: undefined name in template: {error}") from None
        except jinja2.TemplateSyntaxError as error:
            raise PluginError(f"{page_name}, line {error.lineno}: template syntax error: {error.message}") from None
        except jinja2.TemplateError as error:
            raise PluginError(f"{page_name}: template error: {error}") from None


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                             loader=jinja2.FileSystemLoader(str(TEXT)), keep_trailing_newline=True)
    return env


def deep_merge(base: dict, over: dict) -> dict:
    """`over` merged into `base`, mappings merged key by key (as the experiments' config loader does)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def page_language(page) -> str:
    locale = getattr(page.file, "locale", None)
    if locale in LANGUAGES:
        return locale
    match = re.search(r"\.(fa|en)\.md$", page.file.src_uri)
    return match.group(1) if match else "fa"


# ----- MkDocs events ------------------------------------------------------------------------------

_state: dict[str, Any] = {}


def on_config(config):
    _state["results"] = Results(RESULTS)
    _state["glossary"] = load_yaml(TEXT / "glossary.yaml")
    _state["original"] = {k: Reported(v) for k, v in load_yaml(TEXT / "original_report.yaml").items()}
    try:
        _state["references"] = cited.load(TEXT / "references.yaml")
    except cited.ReferenceError_ as error:
        raise PluginError(str(error)) from None
    _state["env"] = make_env()
    return config


def on_files(files, config):
    """Publish results/<exp>/{figures,data}/* at site/results/... (the i18n plugin copies them for /en/)."""
    for path in sorted(RESULTS.glob("*/*/*")):
        if path.suffix in RESULT_SUFFIXES and path.parent.name in ("figures", "data"):
            uri = "results/" + path.relative_to(RESULTS).as_posix()
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    # The home pages link pdf/report-<lang>.pdf: the PDFs `make pdf` printed, kept by on_pre_build.
    if "kept_pdfs" not in _state:
        on_pre_build(config)
    for lang in LANGUAGES:
        uri = f"pdf/report-{lang}.pdf"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(_state["kept_pdfs"] / f"report-{lang}.pdf")))
    return files


def on_pre_build(config):
    """Keep the printed PDFs (`mkdocs build` empties site/ next; `mkdocs serve` builds elsewhere): each is
    copied into a temporary folder, or a one-page note saying how to print it is written there."""
    printed = (ROOT / "site" if _state.get("command") == "serve" else Path(config.site_dir)) / "pdf"
    if "kept_pdfs" not in _state:
        _state["kept_pdfs"] = Path(tempfile.mkdtemp(prefix="hw1-pdf-"))
        atexit.register(shutil.rmtree, _state["kept_pdfs"], ignore_errors=True)
    for lang in LANGUAGES:
        source = printed / f"report-{lang}.pdf"
        (_state["kept_pdfs"] / source.name).write_bytes(source.read_bytes() if source.is_file() else _NOT_PRINTED)


def _note_pdf(text: str) -> bytes:
    """A one-page PDF (A4) with one line of ASCII text."""
    stream = f"BT /F1 14 Tf 60 780 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_NOT_PRINTED = _note_pdf("Not printed yet: run  make pdf  (after make site) to print the report.")


def on_page_markdown(markdown, page, config, files):
    lang = page_language(page)
    renderer = PageRenderer(_state["results"], _state["glossary"], _state["original"], lang,
                            page.url, _state["env"], _state["references"])
    text, note = renderer.render(markdown, page.file.src_uri), renderer.overrides_note()
    if not note:
        return text
    title, _, rest = text.partition("\n")   # after the page's title, when it starts with one
    return f"{title}\n\n{note}{rest}" if title.startswith("# ") else note + text


def on_page_content(html_text, page, config, files):
    """Persian pages: left-to-right fragments isolated, table cells in their own direction (hw1.site.bidi)."""
    return isolate(html_text) if page_language(page) == "fa" else html_text


_ROOTED = re.compile(r"""(\b(?:href|src)=)(["'])(/(?!/)[^"'#?]*)""")


def relative_links(output: str, page_url: str, base_path: str) -> str:
    """href="/..." and src="/..." (the language switch and rel=alternate of mkdocs-static-i18n, built
    from site_url's path) made relative to the page, so that the site works under any sub-path
    (a GitHub project page at /<repo>/, `mkdocs serve`, a folder opened from disk)."""
    page_dir = posixpath.dirname("/" + page_url) if page_url.endswith(".html") else "/" + page_url.rstrip("/")
    base = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"

    def one(m: re.Match) -> str:
        target = m.group(3)
        if not target.startswith(base) and target + "/" != base:
            return m.group(0)
        inside = "/" + target[len(base):] if target.startswith(base) else "/"
        rel = posixpath.relpath(inside, page_dir.rstrip("/") or "/")
        if target.endswith("/") and not rel.endswith("/"):
            rel += "/"
        return f"{m.group(1)}{m.group(2)}{'./' if rel in ('.', './') else rel}"
    return _ROOTED.sub(one, output)


SEARCH_NORMALISE = Path(__file__).with_name("search_normalise.js")


def on_post_build(config):
    """Persian search: the normalisation of src/hw1/site/search_normalise.js appended to Material's
    search worker, which builds the index and runs the queries (both go through it)."""
    if config.theme.name != "material" or not any(p.rpartition("/")[2] == "search" for p in config.plugins):
        return                                    # a site without Material's search (a test's small site)
    workers = sorted(Path(config.site_dir).glob("assets/javascripts/workers/search.*.js"))
    if not workers:
        raise PluginError("Material's search worker (assets/javascripts/workers/search.*.js) was not found")
    addition = SEARCH_NORMALISE.read_text(encoding="utf-8")
    for worker in workers:
        text = worker.read_text(encoding="utf-8").rstrip("\n")
        if "hw1Persian" in text:
            continue
        head, _, last = text.rpartition("\n")
        if last.startswith("//# sourceMappingURL="):    # the source map's line stays last
            text = head + "\n" + addition + last + "\n"
        else:
            text = text + "\n" + addition
        worker.write_text(text, encoding="utf-8")


def on_startup(command, dirty):
    _state["command"] = command


def on_post_page(output, page, config):
    """Material puts dir= on <body>; put the page's direction on <html> as well (lang is already there).
    Links rooted at the site's path become relative (not on 404.html, which is served at any depth)."""
    direction = "rtl" if page_language(page) == "fa" else "ltr"
    output = re.sub(r"<html lang=\"(\w+)\"", lambda m: f'<html lang="{m.group(1)}" dir="{direction}"', output, count=1)
    if page.url != "404.html":
        output = relative_links(output, page.url, urlsplit(config.site_url or "/").path)
    # <link rel="alternate" hreflang> in the head: Material fetches <its href>/sitemap.xml, a 404 for
    # every page but the home (the language switch already links the same page in the other language),
    # and sitemap.xml lists the alternates of every page itself.
    return re.sub(r'\s*<link rel="alternate" href="[^"]*" hreflang="\w+">', "", output)
