"""What a reader sees, measured in the browser: left-to-right fragments in their visual order on the
Persian pages, no horizontal overflow on a phone, wide tables scrolling inside their frame, the site
under a sub-path (a GitHub project page), and screenshots of every page (test-artifacts/pages/).

Same browser as tests/test_browser.py (Debian's Chromium through Playwright, skipped without it
except under CI=true). HW1_TEST_SITE points at an already built site; HW1_TEST_SUBPATH_SITE at one
built with HW1_SITE_URL under /hw1-report/ (otherwise it is built here from the smoke results).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from hw1.site.pdf import is_local
from test_browser import ARTIFACTS, _switch_language, base_url, browser  # noqa: F401  (fixtures: served from this module's `site`)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.sys.executable).parent

# Fragments the Persian pages hold that a right-to-left paragraph used to draw in the wrong order.
FRAGMENTS = [
    "--force",
    "1/√step",
    "[CLS] A [SEP] B [SEP]",
    "[0, 1]",
    "results/",
    "--only",
    "[CLS]",
    "all-MiniLM-L6-v2",
    "(query)",
    "build_results.py --check",
]


def pages_of(site: Path) -> list[str]:
    """'' for the Persian home, 'part1-bert/', 'en/', 'en/part1-bert/' ... (every built page but 404)."""
    found = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return ["" if p == "." else p + "/" for p in found if not p.startswith(("assets", "search", "results"))]


@pytest.fixture
def new_page(browser):
    """new_page(width, scheme) -> a page; every request must stay on this machine."""
    contexts, seen = [], []

    def make(width: int = 1280, scheme: str = "light", height: int = 900):
        context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": height})
        context.on("request", lambda request: seen.append(request.url))
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(90_000)  # a loaded 2-core machine is slow
        return page

    yield make
    for context in contexts:
        context.close()
    outside = [url for url in seen if not is_local(url)]
    assert not outside, f"requests to other hosts: {outside[:5]}"


def _goto(page, url: str) -> None:
    """page.goto, once more after a timeout: on a machine loaded by other work a navigation can stall."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.goto(url)
    except PlaywrightTimeout:
        page.goto(url)


def _ready(page) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_function("() => !document.querySelector('.hw1-explorer[data-state=loading]')")
    page.wait_for_function("() => !document.querySelector('.arithmatex:not([data-katex])')")


# ----- visual order ------------------------------------------------------------------------------

_VISUAL_ORDER = r"""(fragments) => {
  document.querySelectorAll('article details').forEach(d => { d.open = true; });
  const root = document.querySelector('article.md-content__inner');
  const nodes = [], starts = [];
  let text = '';
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {acceptNode: n =>
      n.parentElement.closest('script, style, .katex-mathml, .headerlink') ? NodeFilter.FILTER_REJECT
                                                                          : NodeFilter.FILTER_ACCEPT});
  for (let n = walker.nextNode(); n; n = walker.nextNode()) { nodes.push(n); starts.push(text.length); text += n.data; }
  const at = (i) => {                                  // character i of the text -> [node, offset]
    let lo = 0, hi = nodes.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (starts[mid] <= i) lo = mid; else hi = mid - 1; }
    return [nodes[lo], i - starts[lo]];
  };
  const rect = ([node, offset]) => {
    const r = document.createRange();
    r.setStart(node, offset); r.setEnd(node, offset + 1);
    const rects = Array.from(r.getClientRects()).filter(x => x.width > 0);
    return rects.length ? rects[0] : null;
  };
  const measured = [], wrong = [];
  const check = (label, i, j) => {                     // characters i (first) and j (last) of a fragment
    const a = rect(at(i)), b = rect(at(j));
    if (!a || !b || Math.abs((a.top + a.bottom) / 2 - (b.top + b.bottom) / 2) > a.height / 2) return;  // hidden or wrapped
    measured.push(label);
    if (!(a.left < b.left)) wrong.push(label + ' (first char at x=' + Math.round(a.left) + ', last at x=' + Math.round(b.left) + ')');
  };
  for (const f of fragments) {
    for (let i = text.indexOf(f); i >= 0; i = text.indexOf(f, i + 1)) check(f, i, i + f.length - 1);
  }
  // every isolated left-to-right element: inline code, <bdi dir=ltr>, typeset formulas
  const offsetOf = (node) => starts[nodes.indexOf(node)];
  for (const el of root.querySelectorAll(':not(pre) > code, bdi[dir=ltr], .katex-html')) {
    const inner = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const own = [];
    for (let n = inner.nextNode(); n; n = inner.nextNode()) if (nodes.includes(n) && n.data.trim()) own.push(n);
    if (!own.length) continue;
    const first = own[0], last = own[own.length - 1];
    const i = offsetOf(first) + first.data.search(/\S/);
    const j = offsetOf(last) + last.data.replace(/\s+$/, '').length - 1;
    if (j > i) check(el.textContent.trim().slice(0, 40), i, j);
  }
  return {measured: measured.length, named: fragments.filter(f => measured.includes(f)), wrong};
}"""


def test_left_to_right_fragments_keep_their_visual_order_on_persian_pages(new_page, base_url, site):
    page = new_page(1280)
    named, total, wrong = set(), 0, {}
    for path in pages_of(site):
        if path.startswith("en/"):
            continue
        _goto(page, base_url + path)
        _ready(page)
        out = page.evaluate(_VISUAL_ORDER, FRAGMENTS)
        total += out["measured"]
        named.update(out["named"])
        if out["wrong"]:
            wrong[path or "/"] = out["wrong"][:8]
    assert not wrong, f"left-to-right fragments drawn right to left: {wrong}"
    assert total > 100, total
    assert {"--force", "[CLS]", "results/"} <= named, named


def test_code_blocks_on_persian_pages_read_left_to_right(new_page, base_url):
    page = new_page(1280)
    page.goto(base_url + "reproduce/")
    out = page.evaluate("""() => Array.from(document.querySelectorAll('article pre')).map(p => ({
        direction: getComputedStyle(p).direction, text: p.textContent}))""")
    assert out and all(o["direction"] == "ltr" for o in out), out
    for block in out:  # a Persian comment has a line of its own
        for line in block["text"].splitlines():
            if any("\u0600" <= c <= "\u06ff" for c in line):
                assert line.lstrip().startswith("#"), line


@pytest.mark.parametrize("path", ["part1-bert/", "en/part1-bert/", "true-false/", "en/questions/"])
def test_formulas_are_typeset(new_page, base_url, path):
    """TeX in the pages ($...$, $$...$$) and in the notebook's Markdown cells is typeset by the vendored
    KaTeX: no delimiter is left in the text a reader sees."""
    page = new_page(1280)
    page.goto(base_url + path)
    _ready(page)
    out = page.evaluate(r"""() => {
      const article = document.querySelector('article.md-content__inner');
      article.querySelectorAll('details').forEach(d => { d.open = true; });
      const text = Array.from(article.querySelectorAll('p, li, td, .jp-RenderedMarkdown, .jp-MarkdownOutput'))
          .filter(e => !e.closest('pre, code, .katex')).map(e => e.innerText).join('\n');
      const shown = Array.from(article.querySelectorAll('.katex-html')).map(e => e.textContent).join(' ');
      return {katex: article.querySelectorAll('.katex').length, errors: article.querySelectorAll('.katex-error').length,
              raw: (text.match(/\\\(|\\\)|\\\[|\\\]|\$\$|\\frac|\\sqrt|\\text/g) || []).slice(0, 5),
              latin: (shown.match(/[0-9]/g) || []).length, persian: (shown.match(/[۰-۹]/g) || []).length};
    }""")
    assert out["katex"] >= 5 and not out["errors"], out
    assert not out["raw"], f"TeX left untypeset: {out['raw']}"
    # the formulas' digits are those of the page's language
    if path.startswith("en/"):
        assert out["latin"] and not out["persian"], out
    else:
        assert out["persian"] and not out["latin"], out


@pytest.mark.parametrize("path", ["part1-bert/", "en/part1-bert/", "reproduce/", "en/reproduce/"])
def test_tex_is_typeset_in_headings_captions_tables_and_the_table_of_contents(new_page, base_url, path):
    """$d_k$ in a heading, a caption, a table header or cell, and the table of contents that repeats the
    heading: typeset by KaTeX, never left as raw "d_k" or "\\(...\\)"."""
    page = new_page(1280)
    page.goto(base_url + path)
    _ready(page)
    out = page.evaluate(r"""() => {
      const raw = [];
      const selector = 'h1, h2, h3, h4, caption, figcaption, th, td, .md-nav__link';
      for (const el of document.querySelectorAll(selector)) {
        const copy = el.cloneNode(true);
        copy.querySelectorAll('.katex, pre, code, .headerlink').forEach(x => x.remove());
        const text = copy.textContent;
        if (/\\\(|\\\)|\bd_k\b|sqrt\(/.test(text)) raw.push(text.trim().slice(0, 80));
      }
      return {raw: raw.slice(0, 5), nav: document.querySelectorAll('.md-nav__link .katex').length,
              typeset: document.querySelectorAll('h3 .katex, th .katex, td .katex, figcaption .katex').length};
    }""")
    assert not out["raw"], out
    assert out["typeset"] >= 1, out
    if "part1" in path:
        assert out["nav"] >= 1, out  # the heading's formula in the table of contents


def test_persian_pages_number_their_lists_in_persian_digits(new_page, base_url, site):
    page = new_page(1280)
    styles = {}
    for path in ("", "part2-segmentation/", "en/"):
        page.goto(base_url + path)
        styles[path] = page.evaluate(
            "Array.from(document.querySelectorAll('article ol:not([class])'))"
            ".map(ol => getComputedStyle(ol).listStyleType)"
        )
    assert styles[""] and set(styles[""] + styles["part2-segmentation/"]) == {"persian"}, styles
    assert set(styles["en/"]) == {"decimal"}, styles
    provenance = (site / "provenance" / "index.html").read_text(encoding="utf-8")
    seeds = re.findall(r"بذر تصادفی</td><td>([^<]*)<", provenance)
    assert seeds and all(re.fullmatch("[۰-۹٬]+", s) for s in seeds), seeds


# ----- layout ------------------------------------------------------------------------------------

_OVERFLOW = r"""() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => { for (let n = el.parentElement; n; n = n.parentElement) {
      const o = getComputedStyle(n).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return n !== document.body && n !== document.documentElement; }
    return false; };
  const wide = [];
  for (const el of document.querySelectorAll('article *')) {
    const r = el.getBoundingClientRect();
    if (r.width && (r.right > width + 1 || r.left < -1) && !scrolls(el))
      wide.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '') +
                ' ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
  return {scrollWidth: document.documentElement.scrollWidth, bodyScroll: document.body.scrollWidth, width, wide: wide.slice(0, 6)};
}"""


def test_no_horizontal_overflow_on_a_phone(new_page, base_url, site):
    page = new_page(390, height=844)
    over = {}
    for path in pages_of(site):
        _goto(page, base_url + path)
        _ready(page)
        out = page.evaluate(_OVERFLOW)
        if max(out["scrollWidth"], out["bodyScroll"]) > out["width"] + 1 or out["wide"]:
            over[path or "/"] = out
    assert not over, f"pages wider than 390 px: {over}"


_TABLES = r"""() => {
  const article = document.querySelector('article.md-content__inner').getBoundingClientRect();
  return Array.from(document.querySelectorAll('article table')).map(t => {
    let frame = t.parentElement;
    while (frame && !['auto', 'scroll'].includes(getComputedStyle(frame).overflowX)) frame = frame.parentElement;
    const caption = (t.querySelector('caption') || t).textContent.trim().slice(0, 50);
    if (!frame) return {caption, framed: false};
    const f = frame.getBoundingClientRect();
    // Material's scroll wrapper reaches .8rem into the article's padding on either side
    const inside = f.left >= article.left - 20 && f.right <= article.right + 20;
    // every column can be scrolled into view: the table's two edges reach the frame's
    const edges = [];
    for (const x of [-1e6, 1e6, 0]) {
      frame.scrollLeft = x;
      const r = t.getBoundingClientRect();
      edges.push([r.left - f.left, f.right - r.right]);
    }
    const reachable = edges.some(e => e[0] >= -1) && edges.some(e => e[1] >= -1);
    return {caption, framed: true, inside, reachable, edges: edges.map(e => e.map(Math.round))};
  });
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_wide_tables_scroll_inside_their_frame(new_page, base_url, site, width):
    page = new_page(width, height=844)
    bad = {}
    for path in pages_of(site):
        page.goto(base_url + path)
        tables = page.evaluate(_TABLES)
        wrong = [t for t in tables if not (t["framed"] and t["inside"] and t["reachable"])]
        if wrong:
            bad[path or "/"] = wrong
    assert not bad, f"tables without a scrolling frame inside the text column: {bad}"


# ----- a sub-path (GitHub project page) ----------------------------------------------------------

PREFIX = "hw1-report"


@pytest.fixture(scope="module")
def subpath_site(request, tmp_path_factory) -> Path:
    given = os.environ.get("HW1_TEST_SUBPATH_SITE")
    if given:
        return Path(given)
    results = request.getfixturevalue("smoke_results")
    site = tmp_path_factory.mktemp("subpath") / "site"
    proc = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "HW1_RESULTS": str(results),
            "NO_MKDOCS_2_WARNING": "1",
            "HW1_SITE_URL": f"https://example.github.io/{PREFIX}/",
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def subpath_url(subpath_site, tmp_path_factory):
    """The site served at http://127.0.0.1:PORT/hw1-report/ (nothing else is served)."""
    parent = tmp_path_factory.mktemp("served")
    (parent / PREFIX).symlink_to(subpath_site.resolve(), target_is_directory=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(parent))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{PREFIX}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_site_works_under_a_sub_path(new_page, subpath_url, subpath_site):
    sitemap = (subpath_site / "sitemap.xml").read_text(encoding="utf-8")
    assert f"/{PREFIX}/en/part1-bert/</loc>" in sitemap
    page = new_page(1280)
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(subpath_url + "part1-bert/")
    _switch_language(page, "en")
    assert page.url == subpath_url + "en/part1-bert/"
    _switch_language(page, "fa")
    assert page.url == subpath_url + "part1-bert/"
    for home in ("", "en/"):
        page.goto(subpath_url + home)
        assert page.url.startswith(subpath_url)
        hrefs = page.eval_on_selector_all(".hw1-pdf-links a", "as => as.map(a => a.href)")
        assert sorted(hrefs) == [subpath_url + "pdf/report-en.pdf", subpath_url + "pdf/report-fa.pdf"], hrefs
        links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
        local = {h.split("#")[0] for h in links if h.startswith("http://127.0.0.1") and "/pdf/" not in h}
        assert all(h.startswith(subpath_url) for h in local), [
            h for h in local if not h.startswith(subpath_url)
        ]
        for link in sorted(local):
            response = page.request.get(link)
            assert response.ok, f"{link}: {response.status}"
    assert not failed, failed


def test_pdf_links_are_served_by_mkdocs_serve(tmp_path):
    """Under `mkdocs serve` (and `mkdocs build`) the home pages' PDF links get the printed PDFs or a note."""
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    from hw1.site import hook

    config = MkDocsConfig()
    config.load_dict({"site_name": "test", "docs_dir": str(tmp_path), "site_dir": str(tmp_path / "site")})
    config.validate()
    config.plugins._current_plugin = "hook"  # what MkDocs sets while it runs a hook
    hook.on_startup(command="serve", dirty=False)
    try:
        hook.on_pre_build(config)
        files = hook.on_files(Files([]), config)
    finally:
        hook.on_startup(command="build", dirty=False)
    uris = {f.src_uri for f in files}
    assert {"pdf/report-fa.pdf", "pdf/report-en.pdf"} <= uris
    for f in files:
        if f.src_uri.startswith("pdf/"):
            assert f.content_bytes[:5] == b"%PDF-"
    hook.on_pre_build(config)  # a build (tests/test_runner_integrity.py: the printed ones are kept)
    assert {"pdf/report-fa.pdf"} <= {f.src_uri for f in hook.on_files(Files([]), config)}


# ----- the attention explorer (Part 1) ----------------------------------------------------------


@pytest.mark.parametrize("path", ["part1-bert/", "en/part1-bert/"])
def test_attention_explorer_presets_average_token_and_head_scores(new_page, base_url, site, path):
    import json

    data = json.loads((site / "results" / "bert" / "data" / "attention.json").read_text(encoding="utf-8"))
    page = new_page(390, height=844)  # a phone: values shown without hover
    page.goto(base_url + path)
    page.wait_for_selector(".hw1-explorer[data-state=ready]")
    assert page.locator(".hw1-explorer__gradient").count() == 1  # the colour scale
    # presets: the best head of each pattern, from the scores the text's top heads come from
    presets = page.eval_on_selector_all(
        ".hw1-explorer__preset", "bs => bs.map(b => [b.dataset.layer, b.dataset.head])"
    )
    expected = []
    for pattern in data["patterns"]:
        scores = data["scores"][pattern]
        layer, head = max(
            ((l, h) for l in range(len(scores)) for h in range(len(scores[0]))),
            key=lambda lh: scores[lh[0]][lh[1]],
        )
        expected.append([str(layer + 1), str(head + 1)])
    assert presets == expected
    page.click(".hw1-explorer__preset >> nth=2")
    table = page.locator("table.hw1-explorer__matrix")
    assert [table.get_attribute("data-layer"), table.get_attribute("data-head")] == expected[2]
    # values readable without hover: a tap shows the value; the values option writes them in the cells
    page.locator("td.hw1-cell").first.click()
    assert "→" in page.inner_text(".hw1-explorer__readout")
    page.check("[data-role=values]")
    assert page.locator("td.hw1-cell").nth(0).inner_text().strip() != ""
    # the average of the layer's heads
    page.select_option("[data-role=view]", "average")
    page.wait_for_selector("table.hw1-explorer__matrix[data-head=average]")
    rows = page.eval_on_selector_all(
        "table.hw1-explorer__matrix tbody tr",
        "trs => trs.map(tr => Array.from(tr.querySelectorAll('td.hw1-cell')).map(td => +td.dataset.v))",
    )
    layer = int(expected[2][0]) - 1
    heads = data["sentences"][0]["attention"][layer]
    mean = [
        [sum(h[q][k] for h in heads) / len(heads) for k in range(len(heads[0]))] for q in range(len(heads[0]))
    ]
    assert all(abs(a - b) < 1e-6 for ra, rb in zip(rows, mean) for a, b in zip(ra, rb))
    # one query token: its row as bars with values
    page.select_option("[data-role=token]", "2")
    bars = page.eval_on_selector_all(".hw1-explorer__bar-value", "vs => vs.map(v => v.textContent)")
    assert len(bars) == len(data["sentences"][0]["tokens"])
    # clicking a cell of the head-score heat map opens that head
    page.select_option("[data-role=view]", "one")
    page.select_option("[data-role=token]", "0")
    if page.locator("[data-role=score-layer]").count():  # a phone shows one layer of head scores at a time
        page.select_option("[data-role=score-layer]", "4")
    page.locator("td.hw1-score-cell[data-layer='4'][data-head='5']").click()
    page.wait_for_selector("table.hw1-explorer__matrix[data-layer='4'][data-head='5']")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391


@pytest.mark.parametrize("path", ["part1-bert/", "en/part1-bert/"])
def test_attention_explorer_on_a_phone_opens_at_its_start(new_page, base_url, site, path):
    """At 390 px (values shown, as on a touch screen) the matrix opens with its row labels and [CLS]
    in view, on the Persian page too; the corner label is not squashed; the head scores are shown one
    layer at a time."""
    page = new_page(390, height=844)
    page.goto(base_url + path)
    page.wait_for_selector(".hw1-explorer[data-state=ready]")
    page.check("[data-role=values]")
    out = page.evaluate("""() => {
      const box = document.querySelector('.hw1-explorer__box');
      box.scrollIntoView();
      const b = box.getBoundingClientRect();
      const inView = (el) => { const r = el.getBoundingClientRect(); return r.left >= b.left - 1 && r.right <= b.right + 1; };
      const corner = box.querySelector('th.hw1-explorer__corner');
      const lines = Array.from(corner.querySelectorAll('span')).map(s => s.getClientRects().length);
      return {scrollLeft: box.scrollLeft, rowLabel: inView(box.querySelector('tbody th')),
              cls: inView(box.querySelector('thead th.hw1-explorer__key')),
              firstKey: box.querySelector('thead th.hw1-explorer__key').textContent,
              cornerLines: lines, cornerWidth: corner.getBoundingClientRect().width,
              scoreRows: document.querySelectorAll('.hw1-explorer__scores tbody tr').length,
              scoreLayers: new Set(Array.from(document.querySelectorAll('td.hw1-score-cell')).map(td => td.dataset.layer)).size};
    }""")
    assert out["rowLabel"] and out["cls"] and out["firstKey"] == "[CLS]", out
    assert out["cornerLines"] == [1, 1] and out["cornerWidth"] > 40, out  # one line each, not squashed
    assert out["scoreLayers"] == 1, out  # one layer at a time


# ----- screenshots -------------------------------------------------------------------------------


def test_screenshots_of_every_page(new_page, base_url, site):
    """Every page, both languages, 1280 and 390 px, light and dark: test-artifacts/pages/."""
    out = ARTIFACTS / "pages"
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for scheme in ("light", "dark"):
        for width in (1280, 390):
            page = new_page(width, scheme, height=900 if width > 400 else 844)
            for path in pages_of(site):
                _goto(page, base_url + path)
                page.evaluate(f"""() => {{ localStorage.clear();
                    const want = '{"slate" if scheme == "dark" else "default"}';
                    if (document.body.getAttribute('data-md-color-scheme') !== want)
                      document.querySelector('form[data-md-component=palette] label:not([hidden])').click(); }}""")
                _ready(page)
                page.evaluate("""() => Promise.all(Array.from(document.images).map(img => {
                    img.loading = 'eager';
                    return img.complete ? null : new Promise(done => { img.onload = img.onerror = done;
                                                                       setTimeout(done, 20000); }); }))""")
                name = path.strip("/").replace("/", "-") or "fa-home"
                name = name if name.startswith("en") else "fa-" + name if name != "fa-home" else name
                shot = out / f"{name}-{width}-{scheme}.png"
                page.screenshot(path=str(shot), full_page=True)
                written += 1
    assert written >= 64
