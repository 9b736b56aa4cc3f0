"""MkDocs hook (mkdocs.yml `hooks:`): pages are Jinja templates filled from results/ at build time.

The site knows files, numbers, languages and captions; it knows nothing of machine learning. This
file holds MkDocs' events; the work is done by the modules of hw1.site:
  results.py      reading results/<name>/ (metrics, tables, provenance, the configuration as run)
  templates.py    what a page may call (PageRenderer: the names given to the templates), with
  figures.py      figures and tables, and
  records.py      provenance tables and the overrides note
  words.py        the interface words of text/interface.yaml, in both languages
  postprocess.py  HTML rewriting of the built pages and the search worker
Names available in a page are listed in CONTRIBUTING.md. Any undefined name or missing result
key fails the build with a message that names the page, the experiment and the key.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

# MkDocs loads this file by path; hw1 itself is installed (`pip install --no-deps -e .`).
from hw1.site import cited
from hw1.site.bidi import isolate
from hw1.site.postprocess import append_search_normalise, page_html
from hw1.site.results import Reported, Results, load_yaml
from hw1.site.templates import PageRenderer, make_env

__all__ = ["PageRenderer", "PluginError", "Results", "load_yaml", "make_env"]  # also used by the tests

ROOT = Path(__file__).resolve().parents[3]
RESULTS = Path(os.environ.get("HW1_RESULTS", ROOT / "results")).resolve()  # tests point it elsewhere
TEXT = ROOT / "text"
RESULT_SUFFIXES = {".svg", ".png", ".jpg", ".json"}
LANGUAGES = ("fa", "en")


def page_language(page) -> str:
    locale = getattr(page.file, "locale", None)
    if locale in LANGUAGES:
        return locale
    match = re.search(r"\.(fa|en)\.md$", page.file.src_uri)
    return match.group(1) if match else "fa"


# ----- MkDocs events ------------------------------------------------------------------------------

_state: dict[str, Any] = {}


def on_config(config):
    _state["results"] = Results(RESULTS)
    _state["glossary"] = load_yaml(TEXT / "glossary.yaml")
    _state["original"] = {k: Reported(v) for k, v in load_yaml(TEXT / "original_report.yaml").items()}
    try:
        _state["references"] = cited.load(TEXT / "references.yaml")
    except cited.ReferenceError_ as error:
        raise PluginError(str(error)) from None
    _state["env"] = make_env()
    return config


def on_files(files, config):
    """Publish results/<exp>/{figures,data}/* at site/results/... (the i18n plugin copies them for /en/)."""
    for path in sorted(RESULTS.glob("*/*/*")):
        if path.suffix in RESULT_SUFFIXES and path.parent.name in ("figures", "data"):
            uri = "results/" + path.relative_to(RESULTS).as_posix()
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    # The home pages link pdf/report-<lang>.pdf: the PDFs `make pdf` printed, kept by on_pre_build.
    if "kept_pdfs" not in _state:
        on_pre_build(config)
    for lang in LANGUAGES:
        uri = f"pdf/report-{lang}.pdf"
        if files.get_file_from_path(uri) is None:
            files.append(
                File.generated(config, uri, abs_src_path=str(_state["kept_pdfs"] / f"report-{lang}.pdf"))
            )
    return files


def on_pre_build(config):
    """Keep the printed PDFs (`mkdocs build` empties site/ next; `mkdocs serve` builds elsewhere): each is
    copied into a temporary folder, or a one-page note saying how to print it is written there."""
    printed = (ROOT / "site" if _state.get("command") == "serve" else Path(config.site_dir)) / "pdf"
    if "kept_pdfs" not in _state:
        _state["kept_pdfs"] = Path(tempfile.mkdtemp(prefix="hw1-pdf-"))
        atexit.register(shutil.rmtree, _state["kept_pdfs"], ignore_errors=True)
    for lang in LANGUAGES:
        source = printed / f"report-{lang}.pdf"
        (_state["kept_pdfs"] / source.name).write_bytes(
            source.read_bytes() if source.is_file() else _NOT_PRINTED
        )


def _note_pdf(text: str) -> bytes:
    """A one-page PDF (A4) with one line of ASCII text."""
    stream = f"BT /F1 14 Tf 60 780 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_NOT_PRINTED = _note_pdf("Not printed yet: run  make pdf  (after make site) to print the report.")


def on_page_markdown(markdown, page, config, files):
    lang = page_language(page)
    renderer = PageRenderer(
        _state["results"],
        _state["glossary"],
        _state["original"],
        lang,
        page.url,
        _state["env"],
        _state["references"],
    )
    text, note = renderer.render(markdown, page.file.src_uri), renderer.overrides_note()
    if not note:
        return text
    title, _, rest = text.partition("\n")  # after the page's title, when it starts with one
    return f"{title}\n\n{note}{rest}" if title.startswith("# ") else note + text


def on_page_content(html_text, page, config, files):
    """Persian pages: left-to-right fragments isolated, table cells in their own direction (hw1.site.bidi)."""
    return isolate(html_text) if page_language(page) == "fa" else html_text


def on_post_build(config):
    """Persian search: the normalisation of src/hw1/site/search_normalise.js appended to Material's
    search worker, which builds the index and runs the queries (both go through it)."""
    if config.theme.name != "material" or not any(p.rpartition("/")[2] == "search" for p in config.plugins):
        return  # a site without Material's search (a test's small site)
    append_search_normalise(Path(config.site_dir))


def on_startup(command, dirty):
    _state["command"] = command


def on_post_page(output, page, config):
    """The page's direction on <html>, links rooted at the site's path made relative, no rel=alternate
    links (hw1.site.postprocess.page_html)."""
    direction = "rtl" if page_language(page) == "fa" else "ltr"
    return page_html(output, direction, page.url, urlsplit(config.site_url or "/").path)
