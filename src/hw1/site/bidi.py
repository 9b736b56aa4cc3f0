"""Left-to-right fragments inside right-to-left (Persian) pages, isolated so that they keep their order.

In a right-to-left paragraph the Unicode bidirectional algorithm gives neutral characters (brackets,
slashes, commas, hyphens, spaces) the direction of their surroundings, so `--force` is drawn as
`force--`, `[0, 1]` as `[1 ,0]` and `[CLS] A [SEP] B [SEP]` with [CLS] at the end. The cure is to
isolate each left-to-right fragment: `<bdi dir="ltr">` (CSS `unicode-bidi: isolate`). This module does
it on the HTML of a Persian page, after Markdown:

- inline `<code>` gets `dir="ltr"` (an element with a dir attribute is isolated by the browser);
- runs of Latin script in text (words, digits and the neutrals between them) are wrapped in
  `<bdi dir="ltr">`, each isolate holding balanced brackets only: a bracket whose partner is outside
  the run belongs to the sentence around it and stays outside ("CIFAR-10 (Krizhevsky، ۲۰۰۹)");
  a name with a hyphen in it (all-MiniLM-L6-v2, no-op) is marked `hw1-nobr`, not to break at it;
- each table cell gets the direction of its own text: `dir="ltr"` when it has Latin letters and no
  Persian ones, otherwise the page's;
- a list item or paragraph wholly in Latin script (a reference) is one left-to-right block;
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

_L = r"A-Za-z\u00C0-\u024F\u0370-\u03FF"  # Latin (with accents) and Greek letters
_SUP = "\u00b2\u00b3\u00b9\u2070-\u209c"  # superscripts and subscripts: O(N²), x₀
_WORD = rf"[{_L}0-9_][{_L}0-9_'’\-{_SUP}]*(?:[.:/@][{_L}0-9_\-{_SUP}]+)*[\u064B-\u065F\u0670]*"
_OPEN, _CLOSE = r"\[\(\{\"“<√−", r"\]\)\}\"”>%"
_TOKEN = rf"[{_OPEN}\-]*{_WORD}[{_CLOSE}]*/?"
_SEP = r"(?:[ \u00A0]*[,;:+*=×·√^|&~/\u2212\-–—.!?()\[\]]+[ \u00A0]*|[ \u00A0]+)"
DIGIT_LIST = re.compile(r"[0-9][ \u00A0]*[,/:×][ \u00A0]*[0-9]")  # [0, 1], 3/4, 16:9: neutrals between digits
LATIN_RUN = re.compile(rf"{_TOKEN}(?:{_SEP}{_TOKEN})*")

SKIP = {"pre", "code", "script", "style", "svg", "math", "kbd", "samp", "textarea", "bdi", "title"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_TAG = re.compile(r"(<!--.*?-->|<[^>]+>)", re.S)
_NAME = re.compile(r"</?\s*([a-zA-Z][\w:-]*)")
PAIRS = {"(": ")", "[": "]", "{": "}", "“": "”", "<": ">"}
CLOSERS = {closer: opener for opener, closer in PAIRS.items()}
_STRIP = " \u00a0.,;:!?،؛"
# A name that must not break across lines at its hyphen ("all-MiniLM-L6-v2", "no-op"): a stretch
# without spaces that holds a hyphen between two letters or digits.
_HYPHENATED = re.compile(r"[^\s]*-\w[^\s]*")


def _unmatched(run: str) -> list[int]:
    """Positions of the brackets of a run that have no partner inside it (and of a lone straight quote)."""
    stack: list[int] = []
    lone = []
    for i, c in enumerate(run):
        if c in PAIRS:
            stack.append(i)
        elif c in CLOSERS:
            if stack and run[stack[-1]] == CLOSERS[c]:
                stack.pop()
            else:
                lone.append(i)
    lone += stack
    quotes = [i for i, c in enumerate(run) if c == '"']
    if len(quotes) % 2:
        lone.append(quotes[0] if quotes[0] == 0 else quotes[-1])
    return sorted(lone)


def balanced_pieces(run: str) -> list[tuple[int, int]]:
    """(start, end) of the parts of a run between its unmatched brackets, trimmed of spaces and of
    sentence punctuation: each part holds balanced brackets only. The unmatched brackets belong to
    the sentence around the run ("CIFAR-10 (Krizhevsky، ۲۰۰۹)": the parenthesis opens in the Latin run
    and closes after the Persian comma), so they stay outside every isolate."""
    pieces, start = [], 0
    for cut in [*_unmatched(run), len(run)]:
        piece = run[start:cut]
        lead = len(piece) - len(piece.lstrip(" \u00a0,;:،؛"))
        core = piece[lead:].rstrip(_STRIP)
        if core and _unmatched(core):  # crossed brackets, "(a [b) c]": cut again
            pieces += [(start + lead + a, start + lead + b) for a, b in balanced_pieces(core)]
        elif core:
            pieces.append((start + lead, start + lead + len(core)))
        start = cut + 1
    return pieces


def _ltr(core: str) -> str:
    text = html.escape(core, quote=False)
    if _HYPHENATED.search(core) and len(core) <= 32:  # a short gloss: kept on one line whole
        return f'<bdi dir="ltr" class="hw1-nobr">{text}</bdi>'
    text = _HYPHENATED.sub(
        lambda m: f'<span class="hw1-nobr">{m.group(0)}</span>' if len(m.group(0)) <= 40 else m.group(0), text
    )
    return f'<bdi dir="ltr">{text}</bdi>'


def wrap_latin_runs(text: str) -> str:
    """HTML-escaped text -> the same with each Latin run (containing a letter) in <bdi dir="ltr">,
    each isolate holding balanced brackets only."""
    plain = html.unescape(text)
    out, last = [], 0
    for match in LATIN_RUN.finditer(plain):
        for a, b in balanced_pieces(match.group(0)):
            core = match.group(0)[a:b]
            if not (LATIN_LETTER.search(core) or DIGIT_LIST.search(core)):
                continue
            start, end = match.start() + a, match.start() + b
            out.append(html.escape(plain[last:start], quote=False))
            out.append(_ltr(core))
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
        return f'<{tag}{attrs} dir="{direction}">{inner}</{tag}>' if direction else m.group(0)

    return _CELL.sub(one, fragment)


_BLOCK = re.compile(r"<(li|p)\b([^>]*)>((?:(?!<(?:li|p|ul|ol|div|table)\b).)*?)</\1>", re.S)


def _blocks(fragment: str) -> str:
    """A list item or paragraph written wholly in Latin script (a reference: "J. Hu, L. Shen, G. Sun.
    Squeeze-and-Excitation Networks. CVPR 2018.") reads as one left-to-right block: its content goes
    into one isolate, left to right, so that its full stops and brackets stay where they belong."""

    def one(m: re.Match) -> str:
        tag, attrs, inner = m.groups()
        if " dir=" in attrs or " class=" in attrs and "md-" in attrs:
            return m.group(0)
        text = html.unescape(_TAG.sub("", inner))
        if PERSIAN.search(text) or len(LATIN_LETTER.findall(text)) < 20:
            return m.group(0)
        if tag == "p":
            return f'<p{attrs} dir="ltr">{inner}</p>'
        return f'<li{attrs}><div class="hw1-ltr-block" dir="ltr">{inner}</div></li>'

    return _BLOCK.sub(one, fragment)


def isolate(page_html: str) -> str:
    """The HTML of a Persian page with its left-to-right fragments isolated (see the module's docstring)."""
    parts = _TAG.split(page_html)
    stack: list[tuple[str, bool]] = []  # (tag, inside a part left alone)
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
            formula = (
                re.search(r"""\bclass\s*=\s*["'][^"']*\b(arithmatex|katex|hw1-notebook)\b""", part)
                is not None
            )
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
    return _COMMENT.sub(_rtl_comment, _blocks(_cells("".join(out))))


_COMMENT = re.compile(r'<span class="(c|c1|ch|cm|cs|cp)">([^<]*)</span>')


def _rtl_comment(m: re.Match) -> str:
    # the Latin words of a Persian comment are isolated as in the text ("(یا mkdocs build برای site/):")
    return (
        f'<span class="{m.group(1)} hw1-rtl-comment" dir="rtl">{wrap_latin_runs(m.group(2))}</span>'
        if PERSIAN.search(m.group(2))
        else m.group(0)
    )
