"""The built site in a real browser: headless Debian Chromium driven by Playwright, served from 127.0.0.1.

Directions, the Persian font, the language switch, search in both languages (Persian in each
written form: joiner, space, Arabic letters and digits), the attention explorer,
text contrast in both palettes, and that no request leaves this machine. Screenshots of the home
pages (both languages, light and dark) are kept in test-artifacts/.

Without /usr/bin/chromium (apt-get install chromium) these tests are skipped, except under CI=true,
where a missing browser is a failure: .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hw1.site.pdf import find_chromium, is_local, launch, serve

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
PERSIAN_LETTERS = re.compile(r"[\u0600-\u06FF]")


def browser_or_skip() -> str:
    """The Chromium executable; skip (locally) or fail (CI=true) when it or Playwright is missing."""
    chromium = find_chromium()
    try:
        import playwright.sync_api  # noqa: F401

        missing = None if chromium else "Chromium not found (/usr/bin/chromium: apt-get install chromium)"
    except ImportError:
        missing = "Playwright for Python not installed (pip install -r requirements.txt)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}; .ci/run must install it, browser tests may not be skipped in CI")
        pytest.skip(missing)
    return chromium


@pytest.fixture(scope="module")
def base_url(site):
    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    chromium = browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        yield browser
        browser.close()


@pytest.fixture
def requests_seen():
    return []


@pytest.fixture
def page(browser, requests_seen):
    """A fresh page (light colour scheme); every request URL is recorded and must stay on this machine."""
    context = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 900})
    context.on("request", lambda request: requests_seen.append(request.url))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
    outside = [url for url in requests_seen if not is_local(url)]
    assert not outside, f"requests to other hosts: {outside[:5]}"


def test_persian_is_right_to_left_and_english_left_to_right(page, base_url):
    page.goto(base_url)
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "fa"
    page.goto(base_url + "en/")
    assert page.evaluate("getComputedStyle(document.body).direction") == "ltr"
    assert page.evaluate("document.documentElement.lang") == "en"


def test_persian_text_is_drawn_with_vazirmatn(page, base_url):
    page.goto(base_url)
    page.evaluate("document.fonts.ready.then(() => true)")
    faces = page.evaluate("Array.from(document.fonts).map(f => ({family: f.family, status: f.status}))")
    loaded = [f for f in faces if f["family"].strip("\"'") == "Vazirmatn" and f["status"] == "loaded"]
    assert loaded, f"no loaded Vazirmatn FontFace among {faces}"
    assert page.evaluate("document.fonts.check('16px Vazirmatn', 'سلام')")
    family = page.evaluate("getComputedStyle(document.querySelector('article p')).fontFamily")
    assert family.strip("\"'").startswith("Vazirmatn"), family


def _switch_language(page, hreflang: str) -> None:
    page.click(".md-select .md-header__button")  # the language button opens the list
    page.click(f"a.md-select__link[hreflang={hreflang}]")
    page.wait_for_load_state("load")


def test_language_switch_stays_on_the_same_part(page, base_url):
    page.goto(base_url + "part3-classification/")
    fa_title = page.inner_text("article h1")
    _switch_language(page, "en")
    assert page.url == base_url + "en/part3-classification/"
    assert page.evaluate("document.documentElement.lang") == "en"
    en_title = page.inner_text("article h1")
    assert en_title != fa_title and not PERSIAN_LETTERS.search(en_title)
    _switch_language(page, "fa")
    assert page.url == base_url + "part3-classification/"
    assert page.inner_text("article h1") == fa_title


def _search(page, word: str) -> list[str]:
    page.click("input.md-search__input")  # on a wide screen the box is in the header
    page.keyboard.type(word)  # Material reads the query on key events:
    page.keyboard.press("End")  # Persian letters are typed as text input
    page.wait_for_selector(".md-search-result__item", state="attached")
    return page.locator(".md-search-result__item").all_inner_texts()


@pytest.mark.parametrize("path, word", [("", "ترنسفورمرها"), ("en/", "reproducible")])
def test_search_finds_a_word(page, base_url, path, word):
    page.goto(base_url + path)
    results = _search(page, word)
    assert results, f"no search result for {word!r}"
    assert any(word in text for text in results), results[:3]


def _relative_luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgba(css: str) -> tuple[float, float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    if not css.startswith("rgb") or len(values) < 3:
        raise ValueError(f"unexpected colour {css!r}")
    return (*values[:3], values[3] if len(values) > 3 else 1.0)


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio; a translucent foreground is blended over the (opaque) background."""
    fr, fg, fb, fa = _rgba(foreground)
    br, bg, bb, _ = _rgba(background)
    blended = (fr * fa + br * (1 - fa), fg * fa + bg * (1 - fa), fb * fa + bb * (1 - fa))
    hi, lo = sorted([_relative_luminance(blended), _relative_luminance((br, bg, bb))], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


_COLOURS = """(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  let node = el, bg = null;
  while (node) {
    const c = getComputedStyle(node).backgroundColor;
    if (c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c)) { bg = c; break; }
    node = node.parentElement;
  }
  return {fg: getComputedStyle(el).color, bg: bg || 'rgb(255, 255, 255)'};
}"""

CONTRAST_TARGETS = {
    "body text": "article.md-content__inner > p",
    "caption": "article caption, article figcaption",
}


def test_contrast_and_screenshots_in_both_palettes(page, base_url):
    ARTIFACTS.mkdir(exist_ok=True)
    ratios = {}
    for lang, path in (("fa", ""), ("en", "en/")):
        page.goto(base_url + path)
        page.evaluate("localStorage.clear()")
        page.reload()
        for scheme in ("light", "dark"):
            if scheme == "dark":
                page.click("form[data-md-component=palette] label:not([hidden])")
            expected = "default" if scheme == "light" else "slate"
            page.wait_for_function(f"document.body.getAttribute('data-md-color-scheme') === '{expected}'")
            page.evaluate("document.fonts.ready.then(() => true)")
            shot = ARTIFACTS / f"home-{lang}-{scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            for what, selector in CONTRAST_TARGETS.items():
                colours = page.evaluate(_COLOURS, selector)
                if colours is None:
                    continue
                ratios[(lang, scheme, what)] = contrast(colours["fg"], colours["bg"])
    (ARTIFACTS / "contrast.json").write_text(
        json.dumps({" ".join(k): round(v, 2) for k, v in ratios.items()}, indent=1), encoding="utf-8"
    )
    assert {(lang, scheme) for lang, scheme, what in ratios if what == "body text"} == {
        ("fa", "light"),
        ("fa", "dark"),
        ("en", "light"),
        ("en", "dark"),
    }
    low = {k: round(v, 2) for k, v in ratios.items() if v < 4.5}
    assert not low, f"contrast below 4.5:1: {low}"


def _matrix(page) -> dict:
    return page.evaluate("""() => {
      const table = document.querySelector('.hw1-explorer table.hw1-explorer__matrix');
      const rows = Array.from(table.querySelectorAll('tbody tr')).map(
          tr => Array.from(tr.querySelectorAll('td.hw1-cell')).map(td => parseFloat(td.dataset.v)));
      return {tokens: Array.from(table.querySelectorAll('thead th.hw1-explorer__key')).map(th => th.textContent),
              cells: table.querySelectorAll('td.hw1-cell').length, rows,
              layer: table.dataset.layer, head: table.dataset.head,
              caption: table.querySelector('caption').textContent,
              labels: Array.from(document.querySelectorAll('.hw1-explorer__control span')).map(s => s.textContent)};
    }""")


@pytest.mark.parametrize("lang, path", [("fa", ""), ("en", "en/")])
def test_attention_explorer_shows_the_chosen_head(page, base_url, site, lang, path):
    data = json.loads((site / "results" / "bert" / "data" / "attention.json").read_text(encoding="utf-8"))
    page.goto(base_url + path + "part1-bert/")
    page.wait_for_selector(".hw1-explorer[data-state=ready]")
    first = _matrix(page)
    assert (first["layer"], first["head"]) == ("1", "1")
    assert first["tokens"] == data["sentences"][0]["tokens"]
    page.select_option(".hw1-explorer select[data-role=layer]", "2")
    page.select_option(".hw1-explorer select[data-role=head]", "3")
    page.wait_for_selector(".hw1-explorer table[data-layer='2'][data-head='3']")
    shown = _matrix(page)
    n = len(shown["tokens"])
    assert shown["cells"] == n * n
    for row in shown["rows"]:
        assert abs(sum(row) - 1) < 0.02, row
    assert shown["rows"] == data["sentences"][0]["attention"][1][2]  # layer 2, head 3 (0-based 1, 2)
    assert shown["rows"] != first["rows"]
    if lang == "en":
        assert not any(PERSIAN_LETTERS.search(t) for t in shown["labels"] + [shown["caption"]])
    else:
        assert all(PERSIAN_LETTERS.search(t) for t in shown["labels"]) and "۲" in shown["caption"]
    if len(data["sentences"]) > 1:  # another sentence, same head
        page.select_option(".hw1-explorer select[data-role=sentence]", "2")
        page.wait_for_function(
            "document.querySelector('.hw1-explorer thead th.hw1-explorer__key:last-child')"
            f".textContent === {json.dumps(data['sentences'][1]['tokens'][-1])} && "
            "document.querySelectorAll('.hw1-explorer td.hw1-cell').length === "
            f"{len(data['sentences'][1]['tokens']) ** 2}"
        )
        assert _matrix(page)["rows"] == data["sentences"][1]["attention"][1][2]


def test_no_request_leaves_this_machine(page, base_url, site, requests_seen):
    """Every page of both languages, fully loaded (fonts, figures, scripts, search index)."""
    pages = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    assert len(pages) >= 16, pages
    for path in pages:
        page.goto(base_url + ("" if path == "." else path + "/"), wait_until="networkidle")
    _search(page, "BERT")
    assert len(requests_seen) > len(pages)
    outside = [url for url in requests_seen if not is_local(url)]
    assert not outside, outside[:5]


# Persian search: the index and the query are normalised alike (src/hw1/site/search_normalise.js).
# Each form a reader may type, and the page that must come up for it.
PERSIAN_QUERIES = [
    ("تقسیم‌بندی", "part2-segmentation/"),  # as the page writes it (zero-width non-joiner)
    ("تقسیم بندی", "part2-segmentation/"),  # a space instead
    ("تقسیمبندی", "part2-segmentation/"),  # no joiner at all
    ("تقسيم‌بندي", "part2-segmentation/"),  # Arabic yeh
    ("تفكيك‌پذيري", "part2-segmentation/"),  # Arabic kaf and yeh
    ("Brostow ۲۰۰۸", "part2-segmentation/"),  # Persian digits, as the page writes them
    ("Brostow ٢٠٠٨", "part2-segmentation/"),  # Arabic-Indic digits
    ("Brostow 2008", "part2-segmentation/"),  # Latin digits
]


def _search_links(page, word: str) -> list[str]:
    page.fill("input.md-search__input", "")
    _search(page, word)
    page.wait_for_timeout(300)  # the worker answers the last keystroke
    return page.eval_on_selector_all(".md-search-result__item a", "as => as.map(a => a.href)")


@pytest.mark.parametrize("word, expected", PERSIAN_QUERIES)
def test_persian_search_finds_each_written_form(page, base_url, word, expected):
    page.goto(base_url)
    links = _search_links(page, word)
    assert any(urlsplit(link).path.endswith("/" + expected) for link in links), (word, links[:5])
