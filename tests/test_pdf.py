"""The report as PDF (src/hw1/site/pdf.py): one per language, printed by Chromium from the built site.

The Persian PDF must carry its text in logical order with Vazirmatn embedded, so that it can be
searched, copied and handed in; both must hold every page of the site with its figures and tables.
pdftotext and pdffonts come from Debian's poppler-utils (.ci/run installs it with Chromium).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hw1.site import pdf as pdfmod
from test_browser import browser_or_skip

# Bidirectional controls that pdftotext inserts around right-to-left runs, and the zero-width non-joiner.
INVISIBLE = dict.fromkeys(
    map(ord, "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)


def normalise(text: str) -> str:
    """The letters of a text, in order: what must survive from the page to the PDF.

    pdftotext re-orders right-to-left lines itself; in doing so it puts the two letters of the
    lam-alef ligature glyph (لا) in the wrong order, moves combining marks (kasra, hamza above), and
    places neutral characters (spaces, punctuation, digits) between runs of different direction by
    its own rules. Both sides are normalised the same way: only letters are kept, marks dropped,
    lam-alef read as one unit. The order of the letters is what tells logical from visual order.
    """
    text = unicodedata.normalize("NFC", text).translate(INVISIBLE)
    text = "".join(c for c in text if unicodedata.category(c).startswith("L"))
    return text.replace("لا", "ال")


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} missing (apt-get install poppler-utils); .ci/run must install it")
        pytest.skip(f"{tool} missing (apt-get install poppler-utils)")
    return path


PRINT_TIMEOUT = (
    1200  # both PDFs: about 1 min on an idle 2-core machine, 6 min at a load of 5, more when busier
)
TOOL_TIMEOUT = 120


@pytest.fixture(scope="module")
def pdfs(site) -> dict[str, Path]:
    """Both PDFs, written where `make report` writes them: <site>/pdf/report-<lang>.pdf.

    Printed by `python -m hw1.site.pdf` in a process of its own, killed (with the browser it started)
    after PRINT_TIMEOUT seconds: a print that hangs fails the tests instead of stopping them."""
    browser_or_skip()
    command = [sys.executable, "-m", "hw1.site.pdf", "--site", str(site), "--require"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=PRINT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"printing the PDFs took more than {PRINT_TIMEOUT} s:\n{output[-3000:]}")
    assert proc.returncode == 0, output[-3000:]
    return {lang: site / "pdf" / f"report-{lang}.pdf" for lang in pdfmod.LANGUAGES}


def text_of(path: Path, *pages: int, layout: bool = False) -> str:
    args = [poppler("pdftotext"), "-enc", "UTF-8"] + (["-layout"] if layout else [])
    if pages:
        args += ["-f", str(pages[0]), "-l", str(pages[-1])]
    return subprocess.run(
        args + [str(path), "-"], capture_output=True, text=True, check=True, timeout=TOOL_TIMEOUT
    ).stdout


class _Article(HTMLParser):
    """Text of the h1, of the first paragraph, and every heading of a built page's article."""

    def __init__(self):
        super().__init__()
        self.depth, self.inside, self.tag = 0, False, None
        self.h1, self.first_p, self.headings, self.current = "", "", [], ""

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            self.inside = True
        if self.inside and tag in ("h1", "h2", "h3", "p") and self.tag is None:
            self.tag, self.current = tag, ""

    def handle_endtag(self, tag):
        if tag == "article":
            self.inside = False
        if tag == self.tag:
            text = self.current.replace("¶", "").strip()
            if tag == "h1" and not self.h1:
                self.h1 = text
            elif tag == "p" and not self.first_p:
                self.first_p = text
            if tag != "p":
                self.headings.append(text)
            self.tag = None

    def handle_data(self, data):
        if self.tag:
            self.current += data


def article(path: Path) -> _Article:
    parser = _Article()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_both_pdfs_are_written_into_the_site(pdfs, site):
    assert set(pdfs) == {"fa", "en"}
    for lang, path in pdfs.items():
        assert path == site / "pdf" / f"report-{lang}.pdf"
        assert path.read_bytes()[:5] == b"%PDF-"
        assert path.stat().st_size > 50_000


def test_persian_pdf_has_the_home_page_text_in_logical_order(pdfs, site):
    home = article(site / "index.html")
    sentence = home.first_p.split("،")[0]  # the first clause of the first paragraph
    assert len(sentence) > 20 and re.search(r"[\u0600-\u06FF]", sentence), sentence
    text = normalise(text_of(pdfs["fa"], 1, 8))  # after the cover, contents and lists
    assert normalise(home.h1) in text
    assert normalise(sentence) in text


def test_persian_pdf_embeds_vazirmatn(pdfs):
    out = subprocess.run(
        [poppler("pdffonts"), str(pdfs["fa"])],
        capture_output=True,
        text=True,
        check=True,
        timeout=TOOL_TIMEOUT,
    ).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    vazirmatn = [r for r in rows if "Vazirmatn" in r[0]]
    assert vazirmatn, out
    # columns: name type... encoding emb sub uni object ID -> emb is the 5th from the end
    assert all(r[-5] == "yes" for r in vazirmatn), out
    assert not any(r[0] == "[none]" and "Type" in r[1:3] and "3" in r[1:3] for r in rows), (
        f"unnamed Type 3 fonts (a variable font printed as glyph drawings):\n{out}"
    )


@pytest.mark.parametrize("lang, prefix", [("fa", ""), ("en", "en/")])
def test_pdf_holds_every_page_in_nav_order_with_numbered_captions(pdfs, site, lang, prefix):
    text = normalise(text_of(pdfs[lang]))
    home_nav = (site / prefix / "index.html").read_text(encoding="utf-8")
    order = []
    for href in re.findall(
        r'class="md-nav__link[^"]*"[^>]*href="([^"#]+)"|href="([^"#]+)"[^>]*class="md-nav__link', home_nav
    ):
        href = next(h for h in href if h)
        if href not in order:
            order.append(href)
    titles = [
        normalise(article((site / prefix / h / "index.html").resolve()).h1)
        for h in order
        if (site / prefix / h / "index.html").is_file()
    ]
    assert len(titles) >= 8, titles
    position = -1
    for title in titles:  # each page's title after the previous one's
        found = text.find(title, position + 1)
        assert found > position, f"{title!r} missing or out of the navigation's order"
        position = found
    raw = text_of(pdfs[lang]).translate(INVISIBLE)
    figure, table = ("شکل", "جدول") if lang == "fa" else ("Figure", "Table")
    for label in (figure, table):  # numbered captions: "Figure 1:", "جدول ۱:"
        assert re.search(label + r"\s*:?\s*[1۱]\s*:?", raw), label


@pytest.mark.parametrize("prefix", ["", "en/"])
def test_home_pages_link_both_pdfs(pdfs, site, prefix):
    """docs/index.fa.md and index.en.md link the PDFs (raw <a href>: the files exist only after printing)."""
    home = site / prefix / "index.html"
    hrefs = re.findall(r'<a [^>]*href="([^"]*report-(?:fa|en)\.pdf)"', home.read_text(encoding="utf-8"))
    targets = {(home.parent / href).resolve() for href in hrefs}
    assert targets == {pdfs["fa"].resolve(), pdfs["en"].resolve()}, hrefs


def test_pdf_command_without_site_or_browser(tmp_path, monkeypatch, capsys):
    """`make pdf` before `make site` fails clearly; without Chromium it notes the skip (or fails if required)."""
    assert pdfmod.main(["--site", str(tmp_path)]) == 1
    assert "build the site first" in capsys.readouterr().err
    (tmp_path / "index.html").write_text("<html></html>")
    monkeypatch.setenv("HW1_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert pdfmod.main(["--site", str(tmp_path)]) == 0
    assert "not built" in capsys.readouterr().err
    assert pdfmod.main(["--site", str(tmp_path), "--require"]) == 1
    assert not (tmp_path / "pdf").exists()


def page_letters(path: Path) -> list[str]:
    return [normalise(t) for t in text_of(path).split("\f")]


def chapter_titles(site: Path, prefix: str) -> list[str]:
    home_nav = (site / prefix / "index.html").read_text(encoding="utf-8")
    hrefs = []
    for href in re.findall(
        r'class="md-nav__link[^"]*"[^>]*href="([^"#]+)"|href="([^"#]+)"[^>]*class="md-nav__link', home_nav
    ):
        href = next(h for h in href if h)
        if href not in hrefs and (site / prefix / href / "index.html").is_file():
            hrefs.append(href)
    return [normalise(article((site / prefix / h / "index.html").resolve()).h1) for h in hrefs]


@pytest.mark.parametrize("lang, prefix", [("fa", ""), ("en", "en/")])
def test_pdf_has_a_cover_contents_and_lists_with_page_numbers(pdfs, site, lang, prefix):
    words = pdfmod.FRONT[lang]
    pages = page_letters(pdfs[lang])
    assert normalise(words["university"]) in pages[0] and normalise(words["course"]) in pages[0]
    assert normalise(words["assignment"]) in pages[0]
    raw_cover = text_of(pdfs[lang], 1, 1)
    assert re.search(r"\d{4}-\d{2}-\d{2}", raw_cover) and re.search(r"[0-9a-f]{7,}|—", raw_cover), raw_cover
    front = "".join(pages[:6])
    for title in ("contents", "figures", "tables"):
        assert normalise(words[title]) in front, title
    # the contents: every chapter title, each with a page number, in increasing order
    # -layout keeps an entry and its page number on one line (the number is at the line's end: on the
    # left in Persian, where it is also the first number of the line, on the right in English)
    lines = [
        line
        for line in text_of(pdfs[lang], 2, 6, layout=True).translate(INVISIBLE).splitlines()
        if line.strip()
    ]
    numbered = []
    for title in chapter_titles(site, prefix):
        line = next((l for l in lines if normalise(l).startswith(title[:25])), None)
        assert line is not None, f"{title!r} not in the contents"
        number = re.findall(r"[0-9۰-۹]+", line.translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")))
        assert number, f"no page number for {title!r}: {line!r}"
        numbered.append(int(number[0] if lang == "fa" else number[-1]))
    assert numbered == sorted(numbered) and numbered[0] > 1, numbered
    for title, number in zip(chapter_titles(site, prefix), numbered):  # the number is the chapter's page
        assert pages[number - 1].startswith(title[:25]), (title, number)


def test_persian_pdf_is_persian_throughout(pdfs):
    """The English notebook is not in the Persian PDF: a Persian note says where it is. (Code, hashes and
    configuration on the Reproduce and Provenance pages stay in Latin script.)"""
    import json

    text = normalise(text_of(pdfs["fa"]))
    notebook = json.loads(
        (Path(__file__).resolve().parents[1] / "notebooks" / "bert_walkthrough.ipynb").read_text()
    )
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            sentence = normalise("".join(cell["source"]).split(".")[0])[:60]
            assert not sentence or sentence not in text, sentence
    assert normalise(pdfmod.NOTEBOOK_NOTE["fa"]) in text


def _filled(path: Path) -> list[float]:
    """For each page, how far down its content reaches (0..1 of the height between the margins)."""
    import tempfile

    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [poppler("pdftoppm"), "-r", "18", "-gray", "-png", str(path), f"{tmp}/p"],
            check=True,
            timeout=TOOL_TIMEOUT,
        )
        filled = []
        for png in sorted(Path(tmp).glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1])):
            im = np.asarray(Image.open(png).convert("L"))
            h = im.shape[0]
            top, bottom = int(h * 16 / 297), int(h * (1 - 16 / 297))  # the page's margins (pdf.py)
            rows = np.nonzero(im[top:bottom].min(axis=1) < 200)[0]
            filled.append(float(rows.max()) / (bottom - top) if rows.size else 0.0)
        return filled


@pytest.mark.parametrize("lang, prefix", [("fa", ""), ("en", "en/")])
def test_no_page_is_less_than_a_third_full_except_before_a_part(pdfs, site, lang, prefix):
    pages = page_letters(pdfs[lang])
    titles = chapter_titles(site, prefix)
    starts = {i for i, text in enumerate(pages) if any(text.startswith(t[:25]) for t in titles if t)}
    first_chapter = min(starts)
    filled = _filled(pdfs[lang])
    low = [
        f"page {i + 1}: {filled[i]:.0%}"
        for i in range(first_chapter, len(filled) - 1)
        if filled[i] < 1 / 3 and i + 1 not in starts
    ]
    assert not low, f"pages less than a third full (not before a part): {low}"


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_pdf_formulas_are_typeset(pdfs, lang):
    """The pages' TeX and the notebook's (English PDF) are typeset by KaTeX before printing: no TeX
    source is left in the PDF's text."""
    raw = text_of(pdfs[lang])
    left = re.findall(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\frac|\\sqrt|\\text\{|\\operatorname", raw)
    assert not left, f"TeX left untypeset in the {lang} PDF: {left[:5]}"
    assert "softmax" in raw


@pytest.mark.parametrize("lang, digits", [("fa", "۰-۹"), ("en", "0-9")])
def test_pages_are_numbered_in_the_pdfs_digits(pdfs, lang, digits):
    """Every page after the cover carries "N / total" at its foot, in Persian digits in the Persian PDF."""
    pages = text_of(pdfs[lang], layout=True).translate(INVISIBLE).replace("\u200b", "").split("\f")[:-1]
    total = len(pages)
    for number, page in enumerate(pages[1:], 2):
        foot = [line for line in page.splitlines() if line.strip()][-1]
        assert re.fullmatch(rf"\s*[{digits}]+ / [{digits}]+\s*", foot), (number, foot)
    if lang == "fa":
        assert str(total).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")) in pages[1]
