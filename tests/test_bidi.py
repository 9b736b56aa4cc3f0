"""hw1.site.bidi: left-to-right fragments of Persian pages isolated in their logical order (no browser)."""

from __future__ import annotations

import html
import re

from hw1.site.bidi import PAIRS, isolate, wrap_latin_runs


def test_latin_runs_are_isolated_whole():
    for fragment in ("1/√step", "√d_k", "[CLS] A [SEP] B [SEP]", "[0, 1]", "results/", "O(N²)", "O(N²/R²)"):
        assert wrap_latin_runs(f"متن {fragment} متن") == f'متن <bdi dir="ltr">{fragment}</bdi> متن', fragment
    for fragment in ("--force", "all-MiniLM-L6-v2", "(no-op)"):  # a name with a hyphen: no line break in it
        assert (
            wrap_latin_runs(f"متن {fragment} متن")
            == f'متن <bdi dir="ltr" class="hw1-nobr">{fragment}</bdi> متن'
        )
    assert wrap_latin_runs("متن a no-op b متن") == 'متن <bdi dir="ltr" class="hw1-nobr">a no-op b</bdi> متن'
    long = "Grad-CAM: Visual Explanations from Deep Networks"
    assert wrap_latin_runs(f"متن {long} متن") == (
        'متن <bdi dir="ltr"><span class="hw1-nobr">Grad-CAM:</span> Visual '
        "Explanations from Deep Networks</bdi> متن"
    )


def test_a_bracket_of_the_sentence_stays_outside_the_isolate():
    # the parenthesis opens after a Latin word and closes after Persian text: it is the sentence's
    assert (
        wrap_latin_runs("داده‌های CIFAR-10 (Krizhevsky، ۲۰۰۹) شامل")
        == 'داده‌های <bdi dir="ltr" class="hw1-nobr">CIFAR-10</bdi> (<bdi dir="ltr">Krizhevsky</bdi>، ۲۰۰۹) شامل'
    )
    assert (
        wrap_latin_runs("SegFormer (Xie و همکاران، ۲۰۲۱) یک")
        == '<bdi dir="ltr">SegFormer</bdi> (<bdi dir="ltr">Xie</bdi> و همکاران، ۲۰۲۱) یک'
    )
    assert wrap_latin_runs("(گزینهٔ --only)") == '(گزینهٔ <bdi dir="ltr" class="hw1-nobr">--only</bdi>)'
    assert wrap_latin_runs("متن (a [b) c] متن").count("<bdi") == 3


def test_a_reference_in_latin_script_is_one_left_to_right_block():
    out = isolate(
        "<ul><li>J. Hu, L. Shen, G. Sun. <em>Squeeze-and-Excitation Networks</em>. CVPR 2018. "
        '<a href="https://arxiv.org/abs/1709.01507">arXiv:1709.01507</a></li><li>یک مورد فارسی با BERT</li></ul>'
    )
    assert '<li><div class="hw1-ltr-block" dir="ltr">' in out and out.count("hw1-ltr-block") == 1
    assert "<li>یک مورد فارسی" in out


def unbalanced_isolates(page_html: str) -> list[str]:
    """The text of every <bdi dir="ltr"> of a page whose brackets do not pair up inside it."""
    closers = {c: o for o, c in PAIRS.items()}
    bad = []
    for m in re.finditer(r'<bdi dir="ltr"[^>]*>(.*?)</bdi>', page_html, re.S):
        text, stack, ok = html.unescape(re.sub(r"<[^>]+>", "", m.group(1))), [], True
        for c in text:
            if c in PAIRS:
                stack.append(c)
            elif c in closers:
                ok = ok and bool(stack) and stack.pop() == closers[c]
        if stack or not ok or text.count('"') % 2:
            bad.append(text)
    return bad


def test_every_isolate_of_every_persian_page_holds_balanced_brackets(site):
    pages = [
        p for p in site.rglob("*.html") if not p.relative_to(site).as_posix().startswith(("en/", "assets/"))
    ]
    assert len(pages) >= 9
    bad = {p.relative_to(site).as_posix(): unbalanced_isolates(p.read_text(encoding="utf-8")) for p in pages}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"isolates whose brackets belong to the sentence around them: {bad}"
    assert unbalanced_isolates('<bdi dir="ltr">CIFAR-10 (Krizhevsky</bdi>') == ["CIFAR-10 (Krizhevsky"]


def test_brackets_and_sentence_punctuation_stay_outside():
    assert wrap_latin_runs("(query)،") == '<bdi dir="ltr">(query)</bdi>،'  # balanced brackets go with it
    assert wrap_latin_runs("با BERT.") == 'با <bdi dir="ltr">BERT</bdi>.'


def test_code_formulas_cells_and_comments():
    out = isolate(
        '<p>گزینهٔ <code>--only</code> و <span class="arithmatex">\\(d_k\\)</span></p>'
        "<table><tr><td>plain English.</td><td>فارسی and English</td></tr></table>"
        '<pre><code><span class="c1"># یک توضیح</span>\nx = 1</code></pre>'
    )
    assert '<code dir="ltr">--only</code>' in out
    assert '<span class="arithmatex">\\(d_k\\)</span>' in out  # a formula is left to KaTeX
    assert '<td dir="ltr">' in out and "<td>فارسی" in out  # a cell takes its own direction
    assert '<pre dir="ltr">' in out and 'dir="rtl"># یک توضیح' in out
