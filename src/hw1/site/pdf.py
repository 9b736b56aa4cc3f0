"""The report as one PDF per language, printed by Chromium from the built site.

    python -m hw1.site.pdf [--site site] [--out site/pdf] [--require]     (PYTHONPATH=src)

The built site is served from 127.0.0.1; for each language the article of every page, in the
order of the site's navigation, is put into one print document (the site's own CSS, fonts and
figures; the print rules of docs/assets/explorer.css hide the header, navigation and footer),
and Chromium's print-to-PDF writes <out>/report-fa.pdf and <out>/report-en.pdf. Fonts are
embedded by Chromium (Vazirmatn for Persian). Any request to a host other than 127.0.0.1 is
refused. Chromium is Debian's (`apt-get install chromium`) or the one named by $HW1_CHROMIUM,
driven by Playwright for Python; Playwright's own browser download is never used.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[3]
LANGUAGES = {"fa": "", "en": "en/"}  # language -> its folder in the built site
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

NOTE = {
    "fa": "این پرونده نسخهٔ چاپی (PDF) همان وبگاه است که از همان منابع ساخته شده است؛ "
    "تاریخ ساخت: {date}، نسخهٔ کد (git): {commit}.",
    "en": "This file is the printed (PDF) version of the same site, built from the same sources; "
    "built on {date}, code version (git): {commit}.",
}


# In the Persian PDF the notebook (English: code, outputs and their commentary) is replaced by this note.
NOTEBOOK_NOTE = {
    "fa": "متن این نوت‌بوک، کدها و خروجی‌هایش به زبان انگلیسی‌اند؛ از این رو در این نسخهٔ فارسی نیامده‌اند. "
    "نوت‌بوک کامل در نسخهٔ انگلیسی همین پرونده (report-en.pdf)، در وبگاه و در پروندهٔ "
    "notebooks/bert_walkthrough.ipynb مخزن آمده است.",
}


FRONT = {
    "fa": {
        "university": "دانشگاه تهران، دانشکدهٔ مهندسی برق و کامپیوتر",
        "course": "درس شبکه‌های عصبی و یادگیری عمیق",
        "assignment": "تمرین اول: توجه و ترنسفورمرها",
        "original": "بازتولید گزارشِ تحویل‌شدهٔ همین تمرین («گزارش اصلی»): هر عدد و شکلِ این نسخه را کدِ مخزن "
        "دوباره محاسبه کرده است و عددهای گزارش اصلی در کنار آن‌ها آمده‌اند.",
        "contents": "فهرست مطالب",
        "figures": "فهرست شکل‌ها",
        "tables": "فهرست جدول‌ها",
    },
    "en": {
        "university": "University of Tehran, School of Electrical and Computer Engineering",
        "course": "Neural Networks and Deep Learning",
        "assignment": "Assignment 1: attention and transformers",
        "original": "A reproduction of the report handed in for this assignment (“the original report”): every "
        "number and figure here is recomputed by the repository's code, the original's numbers beside them.",
        "contents": "Contents",
        "figures": "List of figures",
        "tables": "List of tables",
    },
}


def page_texts(pdf: Path) -> list[str]:
    """The text of each page of a PDF (pdftotext, Debian's poppler-utils), or [] without it."""
    tool = shutil.which("pdftotext")
    if tool is None:
        return []
    out = subprocess.run([tool, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, timeout=120)
    return out.stdout.split("\f") if out.returncode == 0 else []


def letters(text: str) -> str:
    """Only the letters of a text, lam-alef as one unit: how pdftotext's text is compared (see tests/test_pdf.py)."""
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    return "".join(c for c in text if unicodedata.category(c).startswith("L")).replace("لا", "ال")


def page_numbers(pdf: Path, entries: list[str], chapters: list[bool] | None = None) -> list[int | None]:
    """For each entry (in document order), the first page at or after the previous entry's page that
    holds its text; the front matter itself (which repeats every entry) is skipped. A chapter's title
    (chapters[i] true) is looked for at the top of a page, where its chapter starts: the same words in a
    sentence or a link of an earlier page are not it."""
    pages = [letters(t) for t in page_texts(pdf)]
    if not pages:
        return []
    keys = [letters(e)[:40] for e in entries]
    chapters = chapters or [False] * len(keys)
    start = 0  # the first page after the front matter
    for i, text in enumerate(pages):
        if keys and keys[-1] and keys[-1] in text:
            start = i + 1
            break
    numbers, at = [], start
    for key, chapter in zip(keys, chapters):
        holds = (lambda text: text.startswith(key)) if chapter else (lambda text: key in text)
        found = next((i for i in range(at, len(pages)) if key and holds(pages[i])), None)
        numbers.append(None if found is None else found + 1)
        at = found if found is not None else at
    return numbers


def find_chromium() -> str | None:
    """$HW1_CHROMIUM, else Debian's /usr/bin/chromium, else a chromium or chrome on PATH."""
    named = os.environ.get("HW1_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for candidate in (
        "/usr/bin/chromium",
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        found = shutil.which(candidate)
        if found:
            return found
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test and build output readable
        pass


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve a built site on 127.0.0.1 at a free port; yields its base URL (ending in '/')."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in LOCAL_HOSTS


def launch(playwright, chromium: str):
    return playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or "—"
    except (OSError, subprocess.SubprocessError):
        return "—"


# Runs in the home page of one language: replaces its article by the articles of every page.
_ASSEMBLE = r"""
async ({note, notebookNote, front}) => {
  const navLinks = Array.from(document.querySelectorAll('.md-nav--primary a.md-nav__link[href]'));
  const urls = [];
  for (const a of navLinks) {
    const u = new URL(a.getAttribute('href'), location.href);
    if (u.origin !== location.origin || u.hash || !u.pathname.endsWith('/')) continue;
    if (!urls.includes(u.href)) urls.push(u.href);
  }
  if (!urls.includes(location.href)) urls.unshift(location.href);
  const chapterId = (u) => 'chapter-' + (new URL(u).pathname.replace(/\/+$/, '').split('/').pop() || 'home');
  const pageIds = new Map(urls.map(u => [new URL(u).pathname, chapterId(u)]));
  const chapters = [];
  for (const url of urls) {
    const response = await fetch(url);
    if (!response.ok) throw new Error('could not fetch ' + url + ': ' + response.status);
    const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
    const article = doc.querySelector('article.md-content__inner');
    if (!article) throw new Error('no article in ' + url);
    const prefix = chapterId(url);
    article.querySelectorAll('[id]').forEach(e => { e.id = prefix + '--' + e.id; });
    article.querySelectorAll('[src]').forEach(e => e.setAttribute('src', new URL(e.getAttribute('src'), url).href));
    article.querySelectorAll('a[href]').forEach(a => {
      const target = new URL(a.getAttribute('href'), url);
      if (target.origin !== location.origin) return;              // a citation link: kept as it is
      const page = pageIds.get(target.pathname);
      if (page) {
        a.setAttribute('href', '#' + (target.hash ? page + '--' + decodeURIComponent(target.hash.slice(1)) : page));
      } else {
        a.removeAttribute('href');                               // a file of the site: no host in a PDF
      }
    });
    const section = document.createElement('section');
    section.className = 'hw1-chapter';
    section.id = prefix;
    section.append(...Array.from(article.childNodes));
    chapters.push(section);
  }
  const home = document.querySelector('article.md-content__inner');
  home.replaceChildren(...chapters);
  const first = home.querySelector('h1');
  const title = first ? first.textContent.replace('¶', '').trim() : document.title;
  document.title = title;                                          // the PDF's title
  // ----- front matter: cover, contents, list of figures, list of tables -----
  const make = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
                                     if (text !== undefined) e.textContent = text; return e; };
  const clean = (e) => e.textContent.replace('¶', '').replace(/\s+/g, ' ').trim();
  const cover = make('section', 'hw1-cover');
  cover.append(make('p', 'hw1-cover__university', front.university), make('p', 'hw1-cover__course', front.course),
               make('p', 'hw1-cover__title', title), make('p', 'hw1-cover__assignment', front.assignment),
               make('p', 'hw1-cover__original', front.original), make('p', 'hw1-cover__built', note));
  // An entry's words with its formulas (class "arithmatex", typeset below with the rest): a heading or
  // caption that holds $d_k$ shows it typeset in the contents too; `find` is its text without them.
  const rich = (e, limit) => {
    const c = e.cloneNode(true);
    c.querySelectorAll('.headerlink').forEach(x => x.remove());
    const maths = Array.from(c.querySelectorAll('.arithmatex'));
    maths.forEach((m, i) => m.replaceWith('\u2063' + i + '\u2063'));
    let text = c.textContent.replace('¶', '').replace(/\s+/g, ' ').trim();
    if (limit && text.length > limit) text = text.slice(0, limit - 3).replace(/\u2063\d*$/, '') + '…';
    const nodes = [];
    text.split(/\u2063(\d+)\u2063/).forEach((part, i) => {
      if (i % 2) { const m = maths[+part].cloneNode(true); m.removeAttribute('data-katex'); nodes.push(m); }
      else if (part) nodes.push(document.createTextNode(part));
    });
    return {nodes, find: text.replace(/\u2063\d+\u2063/g, ' ')};
  };
  const entry = (list, target, source, level, limit) => {
    const li = make('li', 'hw1-toc__entry hw1-toc__entry--' + level);
    const a = make('a', 'hw1-toc__text');
    const words = rich(source, limit);
    a.append(...words.nodes);
    a.href = '#' + target.id;
    li.append(a, make('span', 'hw1-toc__page', ''));
    li.dataset.find = words.find;
    list.append(li);
  };
  const contents = make('section', 'hw1-toc');
  contents.append(make('p', 'hw1-toc__title', front.contents));
  const tocList = make('ol', 'hw1-toc__list');
  chapters.forEach(ch => ch.querySelectorAll('h1, h2').forEach(h => {
    if (!h.id) h.id = ch.id + '--h-' + Math.random().toString(36).slice(2, 8);
    entry(tocList, h, h, h.tagName.toLowerCase());
  }));
  contents.append(tocList);
  const lists = make('section', 'hw1-toc hw1-toc--lists');
  for (const [heading, selector] of [[front.figures, 'figure.hw1-figure > figcaption'], [front.tables, '.hw1-table caption']]) {
    lists.append(make('p', 'hw1-toc__title', heading));
    const ol = make('ol', 'hw1-toc__list');
    chapters.forEach(ch => {
      const captions = Array.from(ch.querySelectorAll(selector));
      if (!captions.length) return;
      const h1 = ch.querySelector('h1');
      const li = make('li', 'hw1-toc__group', h1 ? clean(h1) : '');
      ol.append(li);
      captions.forEach((c, i) => {
        const target = c.closest('figure, .hw1-table');
        if (!target.id) target.id = ch.id + '--cap-' + i;
        entry(ol, target, c, 'caption', 110);
      });
    });
    lists.append(ol);
  }
  home.prepend(cover, contents, lists);
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; });
  if (notebookNote) {                                         // the Persian PDF is Persian throughout:
    document.querySelectorAll('.hw1-notebook').forEach(nb => {  // the English notebook is in the English one
      const p = document.createElement('p');
      p.className = 'hw1-notebook-note';
      p.textContent = notebookNote;
      nb.replaceWith(p);
    });
  }
  if (window.hw1Math) window.hw1Math.typeset(document);
  if (window.hw1Explorer) window.hw1Explorer.initAll();
  // page.evaluate has no timeout of its own: an image that never fires load or error (or fonts that
  // never settle) must not hang the print, so each wait is bounded and what did not load is reported.
  const bounded = (promise, ms) => Promise.race([promise, new Promise(done => setTimeout(done, ms))]);
  await bounded(Promise.all(Array.from(document.images).map(img =>
      img.complete ? null : new Promise(done => { img.onload = img.onerror = done; }))), 90000);
  await bounded(document.fonts.ready, 30000);
  const broken = Array.from(document.images).filter(img => !img.complete || !img.naturalWidth).map(img => img.src);
  return {pages: urls.length, images: document.images.length, broken};
}
"""

# Page numbers in the page's own digits: a CSS margin box (Chromium >= 131) counts in the "persian"
# counter style on Persian pages; Chromium's footer template would print Latin digits only. DejaVu Sans
# (Debian's fonts-dejavu, which has the Persian digits) rather than Vazirmatn: a margin box does not
# instance the variable web font, which would be embedded as unnamed Type 3 glyph drawings.
_PAGE_NUMBERS = """@page {{ @bottom-center {{ content: counter(page, {style}) " / " counter(pages, {style});
  font-family: "DejaVu Sans", sans-serif; font-size: 8pt;
  color: #555; }} }}"""


def print_language(browser, base_url: str, lang: str, out: Path, commit: str) -> dict:
    """One language's PDF; returns what was assembled (pages, images) and the refused requests."""
    context = browser.new_context(color_scheme="light", locale=lang)
    refused: list[str] = []

    def guard(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    try:
        page.set_default_timeout(180_000)  # a busy machine: printing is not a race
        page.goto(base_url + LANGUAGES[lang], wait_until="load")
        isolate = "\u2066{}\u2069".format  # date and hash read left to right inside Persian
        note = NOTE[lang].format(date=isolate(dt.date.today().isoformat()), commit=isolate(commit))
        info = page.evaluate(
            _ASSEMBLE, {"note": note, "notebookNote": NOTEBOOK_NOTE.get(lang), "front": FRONT[lang]}
        )
        if info["broken"]:
            raise RuntimeError(f"{lang}: images that did not load: {info['broken'][:5]}")
        page.wait_for_function(
            "() => !document.querySelector('.hw1-explorer[data-state=loading]')", timeout=15_000
        )
        page.add_style_tag(content=_PAGE_NUMBERS.format(style="persian" if lang == "fa" else "decimal"))
        page.emulate_media(media="print", color_scheme="light")
        out.parent.mkdir(parents=True, exist_ok=True)
        options = dict(
            path=str(out),
            format="A4",
            print_background=True,
            outline=True,
            tagged=True,  # bookmarks from the headings; a tagged PDF
            margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"},
        )
        page.pdf(**options)
        # The contents' page numbers: where each entry's text is in the first print, then printed again
        # (the numbers take the place of empty boxes of the same width, so no page moves).
        entries = page.eval_on_selector_all(
            "li[data-find]", "ls => ls.map(l => [l.dataset.find, l.classList.contains('hw1-toc__entry--h1')])"
        )
        numbers = page_numbers(out, [e[0] for e in entries], [e[1] for e in entries])
        if numbers:
            digits = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹") if lang == "fa" else None
            page.evaluate(
                """(numbers) => document.querySelectorAll('li[data-find] .hw1-toc__page')
                             .forEach((s, i) => { s.textContent = numbers[i] || ''; })""",
                [str(n).translate(digits) if n and digits else (str(n) if n else "") for n in numbers],
            )
            page.pdf(**options)
        info["toc_pages"] = numbers
    finally:
        context.close()
    info["refused"] = refused
    return info


def build_pdfs(site: Path, out: Path, chromium: str) -> dict[str, Path]:
    from playwright.sync_api import sync_playwright

    written = {}
    commit = git_commit()
    with serve(site) as base_url, sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        try:
            for lang in LANGUAGES:
                target = out / f"report-{lang}.pdf"
                info = print_language(browser, base_url, lang, target, commit)
                if info["refused"]:
                    raise RuntimeError(f"{lang}: the site asked for other hosts: {info['refused'][:5]}")
                print(
                    f"{target}: {info['pages']} pages of the site, {info['images']} images, "
                    f"{target.stat().st_size / 1e6:.2f} MB"
                )
                written[lang] = target
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="the built site (mkdocs build)")
    parser.add_argument("--out", type=Path, help="where the PDFs go (default: SITE/pdf)")
    parser.add_argument("--require", action="store_true", help="fail when Chromium or Playwright is missing")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(
            f"error: {args.site}/index.html does not exist: build the site first (mkdocs build)",
            file=sys.stderr,
        )
        return 1
    chromium = find_chromium()
    try:
        import playwright  # noqa: F401
    except ImportError:
        chromium = None
    if chromium is None:
        message = (
            "Chromium (apt-get install chromium) or Playwright (pip install -r requirements.txt) "
            "not found: the PDFs are not built"
        )
        print(("error: " if args.require else "note: ") + message, file=sys.stderr)
        return 1 if args.require else 0
    build_pdfs(args.site, args.out or args.site / "pdf", chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
