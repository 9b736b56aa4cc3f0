"""What a page may call: the names PageRenderer.render gives the Jinja templates of docs/*.md
(listed in CONTRIBUTING.md), in the page's language. Figures and tables are in hw1.site.figures,
provenance in hw1.site.records; the files behind them are read by hw1.site.results."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from mkdocs.exceptions import PluginError

from hw1 import report
from hw1.digits import persian, persian_digits
from hw1.site import cited
from hw1.site.figures import Figures, NotComputed
from hw1.site.notebook import notebook_html
from hw1.site.records import Records
from hw1.site.results import Node, ResultError, Results, profile_config
from hw1.site.words import words

ROOT = Path(__file__).resolve().parents[3]
TEXT = ROOT / "text"


def format_number(value: Any, digits: int, lang: str, percent: bool = False, group: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        raise ResultError(f"expected a number, got the string {value!r}")
    number = float(value) * (100 if percent else 1)
    if number != 0 and abs(number) < 0.5 * 10**-digits and not group:
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


class PageRenderer(Figures, Records):
    """Renders one page: keeps that page's figure and table counters and its language."""

    def __init__(
        self,
        results: Results,
        glossary: dict,
        original: dict,
        lang: str,
        page_url: str,
        env: jinja2.Environment,
        references: dict | None = None,
    ):
        self.results, self.glossary, self.lang, self.env = results, glossary, lang, env
        self.original = original
        self.citations = cited.PageCitations(
            references or {},
            lang,
            lambda v, d, percent=False, group=False: format_number(v, d, lang, percent, group),
            self.digits,
        )
        self.page_url = page_url
        self.figures = 0
        self.tables = 0
        self._derived: dict[str, Node] = {}  # D.<experiment>, per page

    # paths from this page to a site file
    def url(self, site_path: str) -> str:
        page_dir = posixpath.dirname(self.page_url.rstrip("/") + "/index.html") if self.page_url else ""
        return posixpath.relpath(site_path, page_dir or ".")

    def t(self, key: Any) -> str:
        if not isinstance(key, str):
            return (
                self.num(key, 3)
                if isinstance(key, float)
                else self.int_(key)
                if isinstance(key, int)
                else str(key)
            )
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
        w = words("page", self.lang)
        body = w["not_computed_body"].format(name=experiment)
        return Markup(
            f'\n!!! warning "{w["not_computed"]}"\n    {body}\n\n'
            f"    ```\n    python build_results.py --only {experiment}\n    ```\n\n"
        )

    def data(self, experiment: str, name: str) -> Any:
        return self.results.json(experiment, f"data/{name}.json")

    def notebook(self, path: str) -> Markup:
        source = ROOT / path
        if not source.is_file():
            raise ResultError(f"notebook {path} does not exist")
        return Markup(
            '\n<div class="hw1-notebook" markdown="0" dir="ltr">\n' + notebook_html(source) + "\n</div>\n"
        )

    # ----- configurations (hw1.config, read only) -----
    def config(self, experiment: str, profile: str) -> Node:
        """The configuration of a profile: the one the committed results ran with (provenance.json)
        when they come from this profile, else the profile as the runner would resolve it (for
        sentences about a profile the committed results do not come from)."""
        if self.ran(experiment, profile):
            return Node(
                self.results.config(experiment), f"{experiment}/provenance.json, config ({profile})", ""
            )
        return Node(profile_config(experiment, profile), f"../configs/{experiment}.yaml ({profile})", "")

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

    def derived(self, experiment: str) -> Node:
        """D.<experiment>: the values and verdicts that hw1.report derives from its results and its
        configuration as run (provenance.json); derived once per page, however often the page asks."""
        if experiment not in self._derived:
            metrics = self.results.metrics(experiment).raw()
            config = self.results.config(experiment)
            self._derived[experiment] = Node(
                report.derive(experiment, metrics, config), experiment, "(derived by hw1.report)"
            )
        return self._derived[experiment]

    def value(self, experiment: str, dotted: str) -> Any:
        """metrics.json value at a dotted path; a 'not computed yet' marker if the experiment has no results."""
        if not self.results.exists(experiment):
            return NotComputed(words("page", self.lang)["not_computed"])
        node: Any = self.results.metrics(experiment)
        for key in dotted.split("."):
            node = node[key]
        return node

    def render(self, markdown: str, page_name: str) -> str:
        context = {
            "lang": self.lang,
            "R": Lookup(self.results.metrics),
            "D": Lookup(self.derived),
            "report": report,  # report.<module>: values that need no results
            "O": Node(self.original, "../text/original_report.yaml", ""),
            "REF": Lookup(self.citations.value),
            "cite": self.cite,
            "meets": self.meets,
            "compare": self.compare,
            "references": self.references,
            "config": self.config,
            "ran": self.ran,
            "computed": self.computed,
            "figure": self.figure,
            "table": self.table,
            "html_table": self.html_table,
            "image_grid": self.image_grid,
            "t": self.t,
            "data": self.data,
            "notebook": self.notebook,
            "provenance": self.provenance,
            "provenance_of": self.provenance_of,
            "value": self.value,
            "experiments_table": self.experiments_table,
            "provenance_table": self.provenance_table,
            "verify_table": self.verify_table,
            "glossary_table": self.glossary_table,
            "exists": self.results.exists,
            "exact": self.exact,
            "num": self.num,
            "pct": self.pct,
            "int_": self.int_,
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
            raise PluginError(
                f"{page_name}, line {error.lineno}: template syntax error: {error.message}"
            ) from None
        except jinja2.TemplateError as error:
            raise PluginError(f"{page_name}: template error: {error}") from None


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        loader=jinja2.FileSystemLoader(str(TEXT)),
        keep_trailing_newline=True,
    )
    return env
