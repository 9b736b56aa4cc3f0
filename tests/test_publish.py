"""Publishing: `mkdocs gh-deploy` to a local bare remote, the GitHub Pages workflow, and accessibility of
the built pages (alt text in the page's language, heading order).

No network: the "remote" is a bare repository in a temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PERSIAN_LETTERS = re.compile(r"[\u0600-\u06FF]")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# ----- gh-deploy ----------------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@localhost",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@localhost",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, f"git {' '.join(args)}: {out.stderr}"
    return out.stdout


def copy_sources(target: Path) -> None:
    """The repository's files (tracked and not ignored), without results/ (the smoke results are used)."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in listed:
        source = ROOT / name
        if not name or name.startswith("results/") or not source.is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)


def test_gh_deploy_publishes_both_languages_to_a_local_remote(smoke_results, tmp_path):
    repo, remote = tmp_path / "repo", tmp_path / "remote.git"
    repo.mkdir()
    copy_sources(repo)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "sources", cwd=repo)
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    git("remote", "add", "pages", str(remote), cwd=repo)
    assert git("remote", "get-url", "pages", cwd=repo).strip() == str(remote)  # a folder, not a host
    env = {
        **os.environ,
        "HW1_RESULTS": str(smoke_results),
        "NO_MKDOCS_2_WARNING": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@localhost",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@localhost",
    }
    proc = subprocess.run(
        [
            str(BIN / "mkdocs"),
            "gh-deploy",
            "--force",
            "--remote-name",
            "pages",
            "--remote-branch",
            "gh-pages",
            "--message",
            "Deploy {sha} (test)",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = set(git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).split())
    for name in (
        "index.html",
        "en/index.html",
        ".nojekyll",
        "search/search_index.json",
        "part3-classification/index.html",
        "en/part3-classification/index.html",
        "assets/fonts/Vazirmatn-wght.woff2",
    ):
        assert name in files, name
    fa = git("show", "gh-pages:index.html", cwd=remote)
    en = git("show", "gh-pages:en/index.html", cwd=remote)
    assert re.search(r'<html lang="fa"[^>]*dir="rtl"', fa)
    assert re.search(r'<html lang="en"[^>]*dir="ltr"', en)
    head = git("rev-parse", "--short", "HEAD", cwd=repo).strip()
    assert head in git("log", "-1", "--format=%s", "gh-pages", cwd=remote)


# ----- the GitHub Pages workflow -----------------------------------------------------------------


def test_pages_workflow_builds_from_committed_results_and_deploys():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    steps = [step for job in jobs.values() for step in job["steps"]]
    uses = [step.get("uses", "") for step in steps]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert "mkdocs build --strict" in runs
    # no experiment runs there (only the torch-free freshness check), and Pages deploys
    calls = [line for line in runs.splitlines() if "build_results" in line]
    assert calls and all("--check" in line for line in calls) and "gh-deploy" not in runs
    permissions = workflow["permissions"]
    assert permissions["pages"] == "write" and permissions["id-token"] == "write"
    # the packages the workflow installs are pinned in requirements.txt, and are all the site needs
    pattern = re.search(r"grep -iE '([^']+)'", runs).group(1)
    pinned = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if re.match(pattern, line, re.IGNORECASE)
    ]
    names = {line.split("==")[0].lower() for line in pinned}
    assert names >= {
        "mkdocs",
        "mkdocs-material",
        "mkdocs-static-i18n",
        "jinja2",
        "pyyaml",
        "nbconvert",
        "playwright",
    }, names
    assert "torch" not in names


# ----- accessibility of the built pages ----------------------------------------------------------


@pytest.fixture(scope="module")
def site(request) -> Path:
    """The site under test: $HW1_TEST_SITE (an already built site, for quick runs) or the smoke build."""
    given = os.environ.get("HW1_TEST_SITE")
    return Path(given) if given else request.getfixturevalue("built_site")


class _Page(HTMLParser):
    """Headings and images inside <article>, with the kind of figure an image belongs to."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, str]] = []  # (tag, class)
        self.headings: list[tuple[int, str]] = []
        self.images: list[dict] = []
        self.lang = ""
        self._heading: list | None = None

    def _inside(self, tag: str, cls: str = "") -> bool:
        return any(t == tag and cls in c.split() if cls else t == tag for t, c in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang", "")
        if tag == "img":
            kind = (
                "figure"
                if self._inside("figure", "hw1-figure") and not self._inside("div", "hw1-tile")
                else "tile"
                if self._inside("div", "hw1-tile")
                else "other"
            )
            self.images.append(
                {
                    "src": attrs.get("src", ""),
                    "alt": (attrs.get("alt") or "").strip(),
                    "kind": kind,
                    "article": self._inside("article"),
                }
            )
        if tag not in VOID:
            self.stack.append((tag, attrs.get("class") or ""))
        if re.fullmatch(r"h[1-6]", tag) and self._inside("article"):
            self._heading = [int(tag[1]), ""]

    def handle_endtag(self, tag):
        if self._heading is not None and tag == f"h{self._heading[0]}":
            self.headings.append((self._heading[0], self._heading[1].replace("¶", "").strip()))
            self._heading = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data


def parse_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def content_pages(site: Path) -> list[Path]:
    return sorted(
        p for p in site.rglob("index.html") if p.relative_to(site).parts[0] not in ("results", "pdf")
    )


def test_alt_text_is_in_the_pages_language(site):
    pages = content_pages(site)
    assert len(pages) >= 16
    figures = 0
    for path in pages:
        page = parse_page(path)
        name = path.relative_to(site).as_posix()
        english = page.lang == "en"
        assert english == name.startswith("en/"), f"{name}: lang={page.lang}"
        for image in page.images:
            where = f"{name}: <img src={image['src']}>"
            assert image["alt"], f"{where} has no alt text"
            if english:
                assert not PERSIAN_LETTERS.search(image["alt"]), f"{where}: Persian alt on an English page"
            elif image["kind"] in ("figure", "tile"):
                assert PERSIAN_LETTERS.search(image["alt"]), f"{where}: alt {image['alt']!r} is not Persian"
            figures += image["kind"] == "figure"
        if not english:  # the same figure, described differently per language
            twin = site / "en" / path.relative_to(site)
            if twin.is_file():
                fa_alts = {
                    i["src"].rsplit("/", 1)[-1]: i["alt"] for i in page.images if i["kind"] == "figure"
                }
                en_alts = {
                    i["src"].rsplit("/", 1)[-1]: i["alt"]
                    for i in parse_page(twin).images
                    if i["kind"] == "figure"
                }
                same = [src for src in fa_alts if en_alts.get(src) == fa_alts[src]]
                assert not same, f"{name}: the same alt text in both languages for {same}"
    assert figures >= 6, "expected the report's figures on the pages"


def test_headings_one_h1_per_page_and_no_level_skipped(site):
    for path in content_pages(site):
        name = path.relative_to(site).as_posix()
        headings = parse_page(path).headings
        levels = [level for level, _ in headings]
        assert levels and levels[0] == 1, f"{name}: the first heading is not an h1: {headings[:3]}"
        assert levels.count(1) == 1, f"{name}: {levels.count(1)} h1 headings"
        for (previous, _), (level, text) in zip(headings, headings[1:]):
            assert level <= previous + 1, f"{name}: h{previous} followed by h{level} ({text!r})"
