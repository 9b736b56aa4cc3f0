"""Formulas ($...$) in the HTML the hook writes itself (captions, table headers and cells, the list
of cited values), which Markdown does not read: written as pymdownx.arithmatex writes those of a
page, so that KaTeX typesets them alike (docs/assets/math.js)."""

from __future__ import annotations

import re

_INLINE_MATH = re.compile(r"\$([^$\n]+)\$")


def with_math(escaped: str) -> str:
    """HTML-escaped text whose $...$ become formulas, as pymdownx.arithmatex writes them in a page
    (<span class="arithmatex">\\(...\\)</span>, typeset by KaTeX: docs/assets/math.js). For captions,
    table headers and cells, which are HTML that Markdown does not read: d_k is typeset there too."""
    return _INLINE_MATH.sub(lambda m: f'<span class="arithmatex">\\({m.group(1)}\\)</span>', escaped)


def plain_math(text: str) -> str:
    """$\\sqrt{d_k}$ -> √d_k: a formula in text that is not typeset (alt text, a tooltip)."""

    def one(m: re.Match) -> str:
        tex = re.sub(r"\\sqrt\{([^}]*)\}", r"√\1", m.group(1))
        tex = re.sub(r"\\(?:mathrm|text|operatorname)\{([^}]*)\}", r"\1", tex)
        return (
            tex.replace("\\cdot", "·")
            .replace("\\times", "×")
            .replace("\\div", "÷")
            .replace("{", "")
            .replace("}", "")
        )

    return _INLINE_MATH.sub(one, text)
