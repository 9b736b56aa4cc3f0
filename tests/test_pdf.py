"""The report as PDF (src/hw1/site/pdf.py): one per language, printed by Chromium from the built site.

The Persian PDF must carry its text in logical order with Vazirmatn embedded, so that it can be
searched, copied and handed in; both must hold every page of the site with its figures and tables.
pdftotext and pdffonts come from Debian's poppler-utils (.ci/run installs it with Chromium).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hw1.site import pdf as pdfmod
from test_browser import browser_or_skip

# Bidirectional controls that pdftotext inserts around right-to-left runs, and the zero-width non-joiner.
INVISIBLE = dict.fromkeys(map(ord, "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


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


@pytest.fixture(scope="module")
def pdfs(site) -> dict[str, Path]:
    """Both PDFs, written where `make report` writes them: <site>/pdf/report-<lang>.pdf."""
    chromium = browser_or_skip()
    written = pdfmod.build_pdfs(site, site / "pdf", chromium)
    return written


def text_of(path: Path, *pages: int) -> str:
    args = [poppler("pdftotext"), "-enc", "UTF-8"]
    if pages:
        args += ["-f", str(pages[0]), "-l", str(pages[-1])]
    return subprocess.run(args + [str(path), "-"], capture_output=True, text=True, check=True).stdout


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
    sentence = home.first_p.split("،")[0]                 # the first clause of the first paragraph
    assert len(sentence) > 20 and re.search(r"[\u0600-\u06FF]", sentence), sentence
    text = normalise(text_of(pdfs["fa"], 1, 2))
    assert normalise(home.h1) in text
    assert normalise(sentence) in text


def test_persian_pdf_embeds_vazirmatn(pdfs):
    out = subprocess.run([poppler("pdffonts"), str(pdfs["fa"])], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    vazirmatn = [r for r in rows if "Vazirmatn" in r[0]]
    assert vazirmatn, out
    # columns: name type... encoding emb sub uni object ID -> emb is the 5th from the end
    assert all(r[-5] == "yes" for r in vazirmatn), out
    assert not any(r[0] == "[none]" and "Type" in r[1:3] and "3" in r[1:3] for r in rows), \
        f"unnamed Type 3 fonts (a variable font printed as glyph drawings):\n{out}"


@pytest.mark.parametrize("lang, prefix", [("fa", ""), ("en", "en/")])
def test_pdf_holds_every_page_in_nav_order_with_numbered_captions(pdfs, site, lang, prefix):
    text = normalise(text_of(pdfs[lang]))
    home_nav = (site / prefix / "index.html").read_text(encoding="utf-8")
    order = []
    for href in re.findall(r'class="md-nav__link[^"]*"[^>]*href="([^"#]+)"|href="([^"#]+)"[^>]*class="md-nav__link',
                           home_nav):
        href = next(h for h in href if h)
        if href not in order:
            order.append(href)
    titles = [normalise(article((site / prefix / h / "index.html").resolve()).h1) for h in order
              if (site / prefix / h / "index.html").is_file()]
    assert len(titles) >= 8, titles
    position = -1
    for title in titles:                                   # each page's title after the previous one's
        found = text.find(title, position + 1)
        assert found > position, f"{title!r} missing or out of the navigation's order"
        position = found
    raw = text_of(pdfs[lang]).translate(INVISIBLE)
    figure, table = ("شکل", "جدول") if lang == "fa" else ("Figure", "Table")
    for label in (figure, table):                          # numbered captions: "Figure 1:", "جدول ۱:"
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
