"""The Persian and English page of each pair (docs/<page>.fa.md and .en.md, text/sections/<x>.fa.md and
.en.md) read the same values and decide on the same verdicts: the templates are parsed with Jinja's AST
(no rendering, no results needed) and compared on

  - the value paths they read, rooted at the names the site gives a page (hw1.site.templates):
    R.<experiment>..., D.<experiment>..., O.<key>, REF.<key>, and the calls that return records:
    config("exp", "profile")..., provenance_of("exp")..., value("exp", "a.b"), data("exp", "name")...,
    cite("key"); a name bound with {% set %} or {% for %} is followed back to its value;
  - the figures, tables and notebooks a page shows (figure("exp", "name"), table(...), image_grid(...));
  - the verdicts a page decides with ran(), exists(), meets() and compare(), with their arguments;
  - the string constants a value is compared with ({% if D.bert.nsp.verdict == "learnt" %}).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import nodes

from hw1.site.templates import make_env

ROOT = Path(__file__).resolve().parents[1]
ROOTS = {"R", "D", "O", "REF"}  # the lookups a page reads values through
RECORD_CALLS = {"config", "provenance_of", "value", "data", "cite"}  # functions returning a value
VERDICT_CALLS = {"ran", "exists", "meets", "compare"}  # functions deciding a verdict
SHOWN_CALLS = {"figure": 2, "table": 2, "image_grid": 2, "notebook": 1, "verify_table": 1}  # (its key args)
OPERATORS = {"eq": "==", "ne": "!=", "in": "in", "notin": "not in"}

# Differences that are known, one entry per (page, "fa-only" | "en-only", item), each with its reason.
# An entry that no longer matches a difference fails the test (keep the list exact).
ALLOWED: dict[tuple[str, str, str], str] = {}


def pairs() -> list[tuple[str, Path, Path]]:
    found = []
    for folder in (ROOT / "docs", ROOT / "text" / "sections"):
        for fa in sorted(folder.glob("*.fa.md")):
            en = fa.with_name(fa.name.replace(".fa.md", ".en.md"))
            if en.is_file():
                found.append((fa.relative_to(ROOT).as_posix().replace(".fa.md", ".*.md"), fa, en))
    return found


def _const_args(call: nodes.Call) -> str | None:
    if (
        call.kwargs
        or call.dyn_args
        or call.dyn_kwargs
        or not all(isinstance(a, nodes.Const) for a in call.args)
    ):
        return None
    return ", ".join(repr(a.value) for a in call.args)


def value_path(node: nodes.Node, aliases: dict[str, str]) -> str | None:
    """'R.bert.pretraining.heldout' for a chain of attributes/items over a root; None otherwise."""
    if isinstance(node, nodes.Name):
        return node.name if node.name in ROOTS else aliases.get(node.name)
    if isinstance(node, nodes.Getattr):
        base = value_path(node.node, aliases)
        if node.attr in ("items", "values", "keys"):  # a mapping's method, not one of its keys
            return base
        return base and f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        base = value_path(node.node, aliases)
        key = node.arg.value if isinstance(node.arg, nodes.Const) else "*"
        return base and f"{base}.{key}"
    if isinstance(node, nodes.Call):
        if isinstance(node.node, nodes.Name) and node.node.name in RECORD_CALLS:
            args = _const_args(node)
            return None if args is None else f"{node.node.name}({args})"
        if isinstance(node.node, nodes.Name) and node.node.name in VERDICT_CALLS:
            args = [
                repr(a.value) if isinstance(a, nodes.Const) else value_path(a, aliases) or "?"
                for a in node.args
            ]
            return f"{node.node.name}({', '.join(args)})"
        if isinstance(node.node, nodes.Name) and node.node.name in SHOWN_CALLS:
            keys = node.args[: SHOWN_CALLS[node.node.name]]
            args = [
                repr(a.value) if isinstance(a, nodes.Const) else value_path(a, aliases) or "?" for a in keys
            ]
            return f"{node.node.name}({', '.join(args)})"
        if isinstance(node.node, nodes.Getattr) and node.node.attr in ("items", "values", "keys"):
            base = value_path(node.node.node, aliases)  # {% for k, v in R.x.items() %}
            return base
    if isinstance(node, nodes.CondExpr):  # {% set b = R.x.beit if exists("x") else none %}
        return value_path(node.expr1, aliases)
    if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
        return value_path(node.node, aliases)
    return None


def _aliases(template: nodes.Template) -> dict[str, str]:
    """{name: value path} for the names bound by {% set %} and {% for %} (followed to a fixed point)."""
    aliases: dict[str, str] = {}
    for _ in range(10):
        before = dict(aliases)
        for assign in template.find_all(nodes.Assign):
            if isinstance(assign.target, nodes.Name):
                found = value_path(assign.node, aliases)
                if found:
                    aliases[assign.target.name] = found
        for loop in template.find_all(nodes.For):
            base = value_path(loop.iter, aliases)
            if not base:
                continue
            targets = loop.target.items if isinstance(loop.target, nodes.Tuple) else [loop.target]
            names = [t.name for t in targets if isinstance(t, nodes.Name)]
            if names:
                aliases[names[-1]] = f"{base}.*"  # the item (or the value of a key, value pair)
        if aliases == before:
            return aliases
    return aliases


def reads(path: Path) -> tuple[set[str], set[str]]:
    """(value paths read, 'path == "constant"' tests) of one page source."""
    template = make_env().parse(path.read_text(encoding="utf-8"))
    aliases = _aliases(template)
    paths: set[str] = set()
    for node in template.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Call)):
        found = value_path(node, aliases)
        if found and not (isinstance(node, nodes.Name) and node.name in aliases):
            paths.add(found)
    tests: set[str] = set()
    for compare in template.find_all(nodes.Compare):
        sides = [compare.expr] + [op.expr for op in compare.ops]
        operator = OPERATORS.get(compare.ops[0].op, compare.ops[0].op)
        names = [value_path(s, aliases) for s in sides]
        strings = [s.value for s in sides if isinstance(s, nodes.Const) and isinstance(s.value, str)]
        for name in filter(None, names):
            tests.update(f"{name} {operator} {s!r}" for s in strings)
    # a path that is the start of another one is read through it: keep the longest only
    leaves = {p for p in paths if not any(q.startswith(p + ".") for q in paths)}
    return leaves, tests


def differences() -> list[tuple[str, str, str]]:
    found = []
    for name, fa, en in pairs():
        (fa_paths, fa_tests), (en_paths, en_tests) = reads(fa), reads(en)
        for item in sorted((fa_paths - en_paths) | (fa_tests - en_tests)):
            found.append((name, "fa-only", item))
        for item in sorted((en_paths - fa_paths) | (en_tests - fa_tests)):
            found.append((name, "en-only", item))
    return found


def test_the_reader_finds_paths_through_aliases_and_verdict_tests(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        '{% set n = D.bert.nsp %}{% if n.verdict == "learnt" %}{{ pct(n.accuracy) }}{% endif %}'
        "{% for k, v in R.classification.items() %}{{ v.test.accuracy }}{% endfor %}"
        '{{ config("classification", "gpu").beit.image_size }}{{ cite("camvid_classes") }}'
        '{% if ran("bert", "cpu") and compare(R.bert.a, R.bert.b, "margin") != "level" %}{% endif %}',
        encoding="utf-8",
    )
    paths, tests = reads(page)
    assert paths == {
        "D.bert.nsp.verdict",
        "D.bert.nsp.accuracy",
        "R.classification.*.test.accuracy",
        "config('classification', 'gpu').beit.image_size",
        "cite('camvid_classes')",
        "ran('bert', 'cpu')",
        "compare(R.bert.a, R.bert.b, 'margin')",
        "R.bert.a",
        "R.bert.b",
    }
    assert tests == {"D.bert.nsp.verdict == 'learnt'", "compare(R.bert.a, R.bert.b, 'margin') != 'level'"}


def test_pairs_are_found():
    names = {name for name, _, _ in pairs()}
    assert {"docs/part1-bert.*.md", "docs/index.*.md", "sections/attention-scaling.*.md"} <= {
        n.replace("text/", "") for n in names
    }


@pytest.mark.parametrize("name", [name for name, _, _ in pairs()])
def test_both_languages_read_the_same_values_and_verdicts(name):
    found = [d for d in differences() if d[0] == name]
    unexpected = [f"{side}: {item}" for page, side, item in found if (page, side, item) not in ALLOWED]
    stale = [
        f"{side}: {item}"
        for (page, side, item) in ALLOWED
        if page == name and (page, side, item) not in found
    ]
    assert not unexpected, f"{name}: the two languages differ in what they read:\n  " + "\n  ".join(
        unexpected
    )
    assert not stale, f"{name}: ALLOWED entries that no longer differ (remove them):\n  " + "\n  ".join(stale)
