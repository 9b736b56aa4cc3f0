"""A committed notebook (with its outputs) as an HTML fragment inside a page, in either language.

mkdocs-jupyter under mkdocs-static-i18n turns notebooks into downloads (ultrabug/mkdocs-static-i18n#198),
so pages embed the notebook themselves: nbconvert's "basic" template gives the cells without
<html>/<head>, outputs (plots) are inlined as data URIs, and nothing is executed at build time.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=8)
def _convert(path: str, mtime_ns: int) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(notebook)
    return demote_headings(body, by=2)


def demote_headings(html: str, by: int) -> str:
    """The page has its own <h1>/<h2>: the notebook's headings go below them (h1 -> h3, ...)."""
    return re.sub(r"<(/?)h([1-6])\b", lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + by)}", html)


def notebook_html(path: Path) -> str:
    return _convert(str(path), path.stat().st_mtime_ns)
