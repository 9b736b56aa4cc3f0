"""hw1.site.bidi: left-to-right fragments of Persian pages isolated in their logical order (no browser)."""
from __future__ import annotations

from hw1.site.bidi import isolate, wrap_latin_runs


def test_latin_runs_are_isolated_whole():
    for fragment in ("--force", "1/√step", "√d_k", "[CLS] A [SEP] B [SEP]", "[0, 1]", "results/", "all-MiniLM-L6-v2"):
        assert wrap_latin_runs(f"متن {fragment} متن") == f'متن <bdi dir="ltr">{fragment}</bdi> متن', fragment


def test_brackets_and_sentence_punctuation_stay_outside():
    assert wrap_latin_runs("(query)،") == '<bdi dir="ltr">(query)</bdi>،'     # balanced brackets go with it
    assert wrap_latin_runs("با BERT.") == 'با <bdi dir="ltr">BERT</bdi>.'


def test_code_formulas_cells_and_comments():
    out = isolate('<p>گزینهٔ <code>--only</code> و <span class="arithmatex">\\(d_k\\)</span></p>'
                  '<table><tr><td>plain English.</td><td>فارسی and English</td></tr></table>'
                  '<pre><code><span class="c1"># یک توضیح</span>\nx = 1</code></pre>')
    assert '<code dir="ltr">--only</code>' in out
    assert '<span class="arithmatex">\\(d_k\\)</span>' in out            # a formula is left to KaTeX
    assert '<td dir="ltr">' in out and "<td>فارسی" in out                  # a cell takes its own direction
    assert '<pre dir="ltr">' in out and 'dir="rtl"># یک توضیح' in out
