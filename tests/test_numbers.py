"""Every number on the site comes from data: results/ (R.<exp>...), the configurations, the original
report (O.<key>, text/original_report.yaml) or the cited references (REF.<key>, text/references.yaml).

A page source (docs/*.md, text/sections/*.md) may not hold a number typed into its prose, nor a number
literal inside a template expression that is a value rather than a format (num(x, 3), [0], range(1, n)).
What is allowed is listed in ALLOWED below, each with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGIT = "0-9۰-۹"
NUMBER = re.compile(rf"[{DIGIT}]+(?:[.,٫٬/][{DIGIT}]+)*")


def _blank(m: re.Match) -> str:
    """The match replaced by spaces, newlines kept (line numbers stay right)."""
    return re.sub(r"[^\n]", " ", m.group(0))


# ----- what a page may hold --------------------------------------------------------------------
# Prose: a number is allowed when it is
ALLOWED = [
    # part of a name: CIFAR-10, bf16, fp32, MiT-b0, ImageNet-22k, ADE20K, all-MiniLM-L6-v2, F1, top-1,
    # sha256, a 2-D map
    r"(?<=[A-Za-z])[{d}]+|(?<=[A-Za-z]-)[{d}]+|[{d}]+(?=[A-Za-z])|[{d}](?=-D\b)",
    # a section or question label: Part 1, Part 2-2, بخش ۱, 1-1., 2-3, Question 2, پرسش ۲
    r"(?<=Part )[{d}]+(?:-[{d}]+)?|(?<=بخش )[{d}]+(?:-[{d}]+)?|(?<=Question )[{d}]+|(?<=پرسش )[{d}]+",
    r"\b[{d}]-[{d}]\b|(?<![{d}])[{d}]-[{d}](?![{d}])",
    # the number of one of the original report's figures (its Figure 4, شکل ۵ گزارش اصلی)
    r"(?<=Figure )[{d}]+|(?<=شکل )[{d}]+",
    # 0 and 1 as mathematical constants: weights that sum to 1, a weight of exactly 0, values of order 1
    r"(?<![{d}])[01۰۱](?![{d}%٪])",
    # a reference list: the venue's year and the arXiv number (CVPR 2018. [arXiv:1709.01507](...))
    r"(?<=[A-Z] )(?:19|20)[{d}]{{2}}\b|(?<=arXiv:)[{d}]{{4}}\.[{d}]{{4,5}}",
    # an item of a list the text refers to (item 3, مورد ۳)
    r"(?<=item )[{d}]+|(?<=مورد )[{d}]+|(?<=گزارهٔ )[{d}]+",
    # a year in a citation: (Vaswani et al., 2017), Krizhevsky, 2009, Xie و همکاران، ۲۰۲۱
    r"(?<=[,،(] )(?:19|20|۱۹|۲۰)[{d}]{{2}}\b|(?<=[,،(])(?:19|20|۱۹|۲۰)[{d}]{{2}}\b|(?:19|20|۱۹|۲۰)[{d}]{{2}}(?=[)؛;])",
]
ALLOWED_RE = re.compile("|".join(f"(?:{a.format(d=DIGIT)})" for a in ALLOWED))
# Lines that are headings or list markers: their leading number is a label (### 1. LSTM ..., 2. **...**)
LABEL = re.compile(rf"^(?:#+\s*(?:[{DIGIT}]+[.)-]?\s*)?|\s*[{DIGIT}]+\.\s)")
# Inside template expressions: formats and structure, not values
EXPRESSION_ALLOWED = re.compile(
    r",\s*\d+\s*\)"  # the digits of num(x, 3), pct(x, 1): the last argument
    r"|\|\s*(?:num|pct)\(\s*\d+\s*\)"  # ... | num(3)
    r"|digits=\d+"
    r"|\[-?\d+\]|\[-?\d*:-?\d*\]"  # an index or a slice: [0], [-1], [:3]
    r"|(?<![\w.])[0-3](?![\w.])"  # small integers: lengths, range(1, n), ** 2, + 1, == 0
    r"|/\s*60\b"  # seconds -> minutes
)


def strip_non_prose(text: str) -> tuple[str, list[tuple[int, str]]]:
    """(the prose of a page source with everything that is not prose blanked, the template
    expressions with their line numbers)."""
    expressions = []

    def expression(m: re.Match) -> str:
        expressions.append((text.count("\n", 0, m.start()) + 1, m.group(0)))
        return _blank(m)

    text = re.sub(r"\{#.*?#\}", _blank, text, flags=re.S)  # template comments
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", expression, text, flags=re.S)
    text = re.sub(r"```.*?```", _blank, text, flags=re.S)  # code blocks
    text = re.sub(r"`[^`\n]*`", _blank, text)  # inline code
    # formulas: their constants (the 2 of x², the 1 of 1/√t) are mathematics, not data
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$", _blank, text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)|<[^>\n]+>|\{:[^}]*\}", _blank, text)  # link targets, HTML, attributes
    return text, expressions


def bare_numbers(text: str) -> list[tuple[int, str, str]]:
    """(line, number, context) for every number typed into a page source."""
    prose, expressions = strip_non_prose(text)
    found = []
    for i, line in enumerate(prose.split("\n"), 1):
        label = LABEL.match(line)
        start = label.end() if label else 0
        allowed = {m.span() for m in ALLOWED_RE.finditer(line)}
        for m in NUMBER.finditer(line, start):
            if any(a <= m.start() and m.end() <= b for a, b in allowed):
                continue
            found.append((i, m.group(0), line[max(0, m.start() - 35) : m.end() + 25].strip()))
    for line, expr in expressions:
        for text in re.findall(r'"([^"]*)"|\'([^\']*)\'', expr):  # strings (captions, cells) are prose
            text = next(t for t in text if t) if any(text) else ""
            if re.search(r"[\u0600-\u06FF]|\s", text):  # words, not a key or a format
                for _, number, context in bare_numbers(text):
                    found.append((line, number, context))
        code = re.sub(r'"[^"]*"|\'[^\']*\'', '""', expr)  # strings are text
        code = EXPRESSION_ALLOWED.sub(" ", code)
        for m in re.finditer(r"(?<![\w.\]])\d+(?:\.\d+)?(?![\w\[])", code):
            found.append((line, m.group(0), expr[:90].replace("\n", " ")))
    return found


def page_sources() -> list[Path]:
    return sorted([*ROOT.glob("docs/*.md"), *ROOT.glob("text/sections/*.md")])


def test_the_finder_finds_bare_numbers_and_passes_labels_names_and_citations():
    text = (
        "# 2-2. Part 1 of CIFAR-10 with bf16 (Vaswani et al., 2017)\n"
        "1. We use 367 images and {{ num(0.40, 2) }} but {{ pct(R.x.y, 1) }} and {{ h[-1] }}.\n"
        "شکل ۴ گزارش اصلی و ۴۵٬۰۰۰ تصویر؛ $x^2$ و `--steps 100`.\n"
    )
    assert [(line, number) for line, number, _ in bare_numbers(text)] == [
        (2, "367"),
        (3, "۴۵٬۰۰۰"),
        (2, "0.40"),
    ]


def test_no_page_source_holds_a_bare_number():
    wrong = []
    for path in page_sources():
        for line, number, context in bare_numbers(path.read_text(encoding="utf-8")):
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {number}   … {context} …")
    assert not wrong, (
        f"{len(wrong)} numbers typed into the pages: take each from results/ (R.), the "
        "original report (O.) or text/references.yaml (REF.):\n" + "\n".join(wrong)
    )


# ----- text/references.yaml -----------------------------------------------------------------------


def test_every_reference_is_valid_and_cited_by_a_page():
    from hw1.site import cited

    entries = cited.load(ROOT / "text" / "references.yaml")
    assert entries
    sources = "\n".join(p.read_text(encoding="utf-8") for p in page_sources())
    unused = [key for key in entries if not re.search(rf"""REF\.{key}\b|["']{key}["']""", sources)]
    assert not unused, f"entries of text/references.yaml that no page cites: {unused}"


def test_cited_values_verdicts_and_the_references_section(tmp_path):
    import yaml

    from hw1.site import cited, hook

    (tmp_path / "references.yaml").write_text(
        yaml.safe_dump(
            {
                "size": {
                    "kind": "dataset",
                    "value": [360, 480],
                    "show": "{1}×{0}",
                    "source": "Someone, 2009",
                    "measures": {"en": "image size", "fa": "اندازهٔ تصویر"},
                },
                "goal": {
                    "kind": "target",
                    "value": 0.4,
                    "digits": 2,
                    "source": {"en": "set here", "fa": "این‌جا"},
                    "measures": {"en": "a target", "fa": "یک هدف"},
                },
                "margin": {
                    "kind": "rule",
                    "value": 0.01,
                    "digits": 2,
                    "source": "here",
                    "measures": {"en": "a margin", "fa": "یک حاشیه"},
                },
            },
            allow_unicode=True,
        )
    )
    entries = cited.load(tmp_path / "references.yaml")
    page = (
        '{{ cite("size") }} {{ meets(0.41, "goal") }} {{ meets(0.39, "goal") }} '
        '{{ compare(0.405, 0.40, "margin") }} {{ compare(0.42, 0.40, "margin") }} {{ REF.goal | num(2) }}'
        "{{ references() }}"
    )
    for lang, size, goal in (("en", "480×360", "0.40"), ("fa", "۴۸۰×۳۶۰", "۰٫۴۰")):
        renderer = hook.PageRenderer(hook.Results(tmp_path), {}, {}, lang, "x/", hook.make_env(), entries)
        out = renderer.render(page, f"p.{lang}.md")
        assert out.startswith(size + '<sup class="hw1-cite"><a href="#ref-size">')
        assert " True False level higher " + goal in out
        assert out.count("<li id=") == 3 and 'id="ref-goal"' in out and "{: #cited-values }" in out
    renderer = hook.PageRenderer(hook.Results(tmp_path), {}, {}, "en", "x/", hook.make_env(), entries)
    for bad, message in (
        ('{{ cite("nope") }}', "has no key 'nope'"),
        ('{{ meets(1, "margin") }}', "not a target"),
        ('{{ compare(1, 2, "goal") }}', "not a rule"),
    ):
        with pytest.raises(Exception, match=message):
            renderer.render(bad, "p.en.md")
    (tmp_path / "bad.yaml").write_text("x: {kind: literature, value: 1, source: s, measures: {en: e}}\n")
    with pytest.raises(cited.ReferenceError_, match="measures needs en and fa"):
        cited.load(tmp_path / "bad.yaml")
