"""HTML post-processing of the built pages (regex rewriting): the page's direction on <html>, links
rooted at the site's path made relative, no rel=alternate links in the head, and the Persian search
normalisation appended to Material's search worker."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

_ROOTED = re.compile(r"""(\b(?:href|src)=)(["'])(/(?!/)[^"'#?]*)""")


def relative_links(output: str, page_url: str, base_path: str) -> str:
    """href="/..." and src="/..." (the language switch and rel=alternate of mkdocs-static-i18n, built
    from site_url's path) made relative to the page, so that the site works under any sub-path
    (a GitHub project page at /<repo>/, `mkdocs serve`, a folder opened from disk)."""
    page_dir = posixpath.dirname("/" + page_url) if page_url.endswith(".html") else "/" + page_url.rstrip("/")
    base = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"

    def one(m: re.Match) -> str:
        target = m.group(3)
        if not target.startswith(base) and target + "/" != base:
            return m.group(0)
        inside = "/" + target[len(base) :] if target.startswith(base) else "/"
        rel = posixpath.relpath(inside, page_dir.rstrip("/") or "/")
        if target.endswith("/") and not rel.endswith("/"):
            rel += "/"
        return f"{m.group(1)}{m.group(2)}{'./' if rel in ('.', './') else rel}"

    return _ROOTED.sub(one, output)


def page_html(output: str, direction: str, page_url: str, base_path: str) -> str:
    """Material puts dir= on <body>; put the page's direction on <html> as well (lang is already there).
    Links rooted at the site's path become relative (not on 404.html, which is served at any depth)."""
    output = re.sub(
        r"<html lang=\"(\w+)\"", lambda m: f'<html lang="{m.group(1)}" dir="{direction}"', output, count=1
    )
    if page_url != "404.html":
        output = relative_links(output, page_url, base_path)
    # <link rel="alternate" hreflang> in the head: Material fetches <its href>/sitemap.xml, a 404 for
    # every page but the home (the language switch already links the same page in the other language),
    # and sitemap.xml lists the alternates of every page itself.
    return re.sub(r'\s*<link rel="alternate" href="[^"]*" hreflang="\w+">', "", output)


SEARCH_NORMALISE = Path(__file__).with_name("search_normalise.js")


def append_search_normalise(site_dir: Path) -> None:
    """Persian search: the normalisation of src/hw1/site/search_normalise.js appended to Material's
    search worker, which builds the index and runs the queries (both go through it)."""
    workers = sorted(Path(site_dir).glob("assets/javascripts/workers/search.*.js"))
    if not workers:
        raise PluginError("Material's search worker (assets/javascripts/workers/search.*.js) was not found")
    addition = SEARCH_NORMALISE.read_text(encoding="utf-8")
    for worker in workers:
        text = worker.read_text(encoding="utf-8").rstrip("\n")
        if "hw1Persian" in text:
            continue
        head, _, last = text.rpartition("\n")
        if last.startswith("//# sourceMappingURL="):  # the source map's line stays last
            text = head + "\n" + addition + last + "\n"
        else:
            text = text + "\n" + addition
        worker.write_text(text, encoding="utf-8")
