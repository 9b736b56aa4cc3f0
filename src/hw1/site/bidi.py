"""Left-to-right fragments inside right-to-left (Persian) pages, isolated so that they keep their order.

In a right-to-left paragraph the Unicode bidirectional algorithm gives neutral characters (brackets,
slashes, commas, hyphens, spaces) the direction of their surroundings, so `--force` is drawn as
`force--`, `[0, 1]` as `[1 ,0]` and `[CLS] A [SEP] B [SEP]` with [CLS] at the end. The cure is to
isolate each left-to-right fragment: `<bdi dir="ltr">` (CSS `unicode-bidi: isolate`). This module does
it on the HTML of a Persian page, after Markdown:

- inline `<code>` gets `dir="ltr"` (an element with a dir attribute is isolated by the browser);
- runs of Latin script in text (words, digits and the neutrals between them, brackets balanced)
  are wrapped in `<bdi dir="ltr">`;
- each table cell gets the direction of its own text: `dir="ltr"` when it has Latin letters and no
  Persian ones, otherwise the page's;
- code blocks (`<pre>`) are left to right (`dir="ltr"`); a comment in them that holds Persian (Pygments'
  `<span class="c1">`) is isolated right to left (`dir="rtl"`), so that it reads whole from its `#`.

Nothing inside <pre>, <code>, <script>, <style>, <svg>, <math>, a formula (class "arithmatex") or an
element already marked `dir="ltr"` is touched.
"""
from __future__ import annotations

import html
import re

PERSIAN = re.compile(r"[\u0600-\u06FF\uFB50-\uFDFF\uFE70-\uFEFF]")
LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u024F\u0370-\u03FF]")

_L = r"A-Za-z\u00C0-\u024F\u0370-\u03FF"          # Latin (with accents) and Greek letters
_WORD = rf"[{_L}0-9][{_L}0-9_'’\-]*(?:[.:/@][{_L}0-9_\-]+)*[\u064B-\u065F\u0670]*"
_OPEN, _CLOSE = r"\[\(\{\"“<√−", r"\]\)\}\"”>%"
_TOKEN = rf"[{_OPEN}\-]*{_WORD}[{_CLOSE}]*/?"
_SEP = r"(?:[ \u00A0]*[,;:+*=×·√^|&~/\u2212\-–—.!?()\[\]]+[ \u00A0]*|[ \u00A0]+)"
DIGIT_LIST = re.compile(r"[0-9][ \u00A0]*[,/:×][ \u00A0]*[0-9]")   # [0, 1], 3/4, 16:9: neutrals between digits
LATIN_RUN = re.compile(rf"{_TOKEN}(?:{_SEP}{_TOKEN})*")

SKIP = {"pre", "code", "script", "style", "svg", "math", "kbd", "samp", "textarea", "bdi", "title"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_TAG = re.compile(r"(<!--.*?-->|<[^>]+>)", re.S)
_NAME = re.compile(r"</?\s*([a-zA-Z][\w:-]*)")
PAIRS = {"(": ")", "[": "]", "{": "}", "“": "”", "<": ">"}


def _balanced(run: str) -> str:
    """Trim closing brackets without their opening one at the end, and openers without closers at the start."""
    changed = True
    while changed and run:
        changed = False
        for opener, closer in PAIRS.items():
            if run.endswith(closer) and run.count(closer) > run.count(opener):
                run, changed = run[:-1], True
            if run.startswith(opener) and run.count(opener) > run.count(closer):
                run, changed = run[1:], True
        if run.endswith(('"',)) and run.count('"') % 2:
            run, changed = run[:-1], True
        if run.startswith('"') and run.count('"') % 2:
            run, changed = run[1:], True
    return run


def wrap_latin_runs(text: str) -> str:
    """HTML-escaped text -> the same with each Latin run (containing a letter) in <bdi dir="ltr">."""
    plain = html.unescape(text)
    out, last = [], 0
    for match in LATIN_RUN.finditer(plain):
        run = match.group(0).rstrip(" \u00A0.,;:!?")
        core = _balanced(run)
        if not core or not (LATIN_LETTER.search(core) or DIGIT_LIST.search(core)):
            continue
        start = match.start() + run.find(core)
        end = start + len(core)
        out.append(html.escape(plain[last:start], quote=False))
        out.append(f'<bdi dir="ltr">{html.escape(core, quote=False)}</bdi>')
        last = end
    if not out:
        return text
    out.append(html.escape(plain[last:], quote=False))
    return "".join(out)


def _cell_direction(inner_html: str) -> str | None:
    text = html.unescape(_TAG.sub("", inner_html))
    if PERSIAN.search(text):
        return None
    return "ltr" if LATIN_LETTER.search(text) else None


_CELL = re.compile(r"<(td|th)\b([^>]*)>(.*?)</\1>", re.S)


def _cells(fragment: str) -> str:
    def one(m: re.Match) -> str:
        tag, attrs, inner = m.groups()
        if " dir=" in attrs:
            return m.group(0)
        direction = _cell_direction(inner)
        return f"<{tag}{attrs} dir=\"{direction}\">{inner}</{tag}>" if direction else m.group(0)
    return _CELL.sub(one, fragment)


def isolate(page_html: str) -> str:
    """The HTML of a Persian page with its left-to-right fragments isolated (see the module's docstring)."""
    parts = _TAG.split(page_html)
    stack: list[tuple[str, bool]] = []          # (tag, inside a part left alone)
    out = []
    for part in parts:
        if not part:
            continue
        if part.startswith("<!--"):
            out.append(part)
            continue
        if part.startswith("<"):
            m = _NAME.match(part)
            if not m:
                out.append(part)
                continue
            name = m.group(1).lower()
            if part.startswith("</"):
                for i in range(len(stack) - 1, -1, -1):
                    if stack[i][0] == name:
                        del stack[i:]
                        break
                out.append(part)
                continue
            skipped = stack[-1][1] if stack else False
            ltr = re.search(r"""\bdir\s*=\s*["']?ltr""", part) is not None
            formula = re.search(r"""\bclass\s*=\s*["'][^"']*\b(arithmatex|katex|hw1-notebook)\b""", part) is not None
            if name == "code" and not skipped and not ltr:
                part = part[:-1].rstrip("/") + ' dir="ltr">'
            elif name == "pre" and not ltr:
                part = part[:4] + ' dir="ltr"' + part[4:]
            if name not in VOID and not part.endswith("/>"):
                stack.append((name, skipped or ltr or formula or name in SKIP))
            out.append(part)
        else:
            skipped = stack[-1][1] if stack else False
            out.append(part if skipped else wrap_latin_runs(part))
    return _COMMENT.sub(_rtl_comment, _cells("".join(out)))


_COMMENT = re.compile(r'<span class="(c|c1|ch|cm|cs|cp)">([^<]*)</span>')


def _rtl_comment(m: re.Match) -> str:
    return (f'<span class="{m.group(1)} hw1-rtl-comment" dir="rtl">{m.group(2)}</span>'
            if PERSIAN.search(m.group(2)) else m.group(0))
