"""The built site and the page rendering: languages, figures, no external hosts, strict templates."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from hw1.site import hook, templates


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.html_attrs: dict = {}
        self.refs: list[tuple[str, str]] = []
        self.imgs_without_alt: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.html_attrs = attrs
        for name in ("src", "href"):
            if attrs.get(name):
                self.refs.append((tag, attrs[name]))
        if tag == "img" and not attrs.get("alt"):
            self.imgs_without_alt.append(attrs.get("src", "?"))


def parse(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_languages_and_directions(built_site):
    fa, en = parse(built_site / "index.html"), parse(built_site / "en" / "index.html")
    assert fa.html_attrs.get("lang") == "fa" and fa.html_attrs.get("dir") == "rtl"
    assert en.html_attrs.get("lang") == "en" and en.html_attrs.get("dir") == "ltr"
    for page in (
        "part1-bert",
        "part2-segmentation",
        "part3-classification",
        "questions",
        "true-false",
        "reproduce",
        "provenance",
    ):
        assert (built_site / page / "index.html").is_file(), page
        assert (built_site / "en" / page / "index.html").is_file(), page


def test_every_image_exists_and_has_alt_text(built_site):
    pages = list(built_site.rglob("*.html"))
    checked = 0
    for page in pages:
        refs = parse(page)
        assert not refs.imgs_without_alt, f"{page}: images without alt text: {refs.imgs_without_alt}"
        for tag, url in refs.refs:
            if tag != "img" or url.startswith("data:"):
                continue
            target = (page.parent / unquote(urlparse(url).path)).resolve()
            assert target.is_file(), f"{page.relative_to(built_site)} references missing {url}"
            checked += 1
    assert checked >= 6, "expected the report's figures on the pages"


# Anything the browser would fetch: <link href>, <script src>, <img|source|iframe|video|audio src>,
# CSS url(...) and @import. Plain <a href> citations are links a reader may follow, not requests, and
# so is <link rel="canonical"> (the published address, from site_url: never fetched).
EXTERNAL = re.compile(
    r"""<(?:link(?![^>]*\brel=["']?canonical)|script|img|source|iframe|video|audio|embed)\b[^>]*?\b(?:src|href|srcset)\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def test_no_request_to_an_external_host(built_site):
    offenders = []
    for path in built_site.rglob("*"):
        if path.suffix in (".html", ".css", ".js") and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in EXTERNAL.finditer(text):
                offenders.append(
                    f"{path.relative_to(built_site)}: {text[match.start() : match.start() + 80]}"
                )
    assert not offenders, "\n".join(offenders[:10])
    css = (built_site / "assets" / "fonts" / "vazirmatn.css").read_text()
    assert "@font-face" in css and "Vazirmatn-wght.woff2" in css
    assert (built_site / "assets" / "fonts" / "Vazirmatn-wght.woff2").stat().st_size > 50_000


def test_persian_words_are_in_the_search_index(built_site):
    index = json.loads((built_site / "search" / "search_index.json").read_text(encoding="utf-8"))
    text = " ".join(doc["text"] + " " + doc["title"] for doc in index["docs"])
    assert "بازتولید" in text and "خاستگاه" in text


def test_persian_numbers_and_not_computed_box(tmp_path):
    assert templates.format_number(0.4618, 4, "fa") == "۰٫۴۶۱۸"
    assert templates.format_number(855050, 0, "fa", group=True) == "۸۵۵٬۰۵۰"
    assert templates.format_number(0.4618, 1, "en", percent=True) == "46.2%"
    assert templates.format_number(2.74e-05, 3, "en") == "2.7 × 10<sup>−5</sup>"
    assert templates.format_number(2.74e-05, 3, "fa") == "۲٫۷ × ۱۰<sup>−۵</sup>"
    assert templates.format_number(0.0, 3, "en") == "0.000"
    renderer = hook.PageRenderer(hook.Results(tmp_path), {}, {}, "fa", "part1-bert/", hook.make_env())
    out = renderer.render('{% call computed("bert") %}secret {{ R.bert.x }}{% endcall %}', "p.fa.md")
    assert "هنوز محاسبه نشده است" in out and "build_results.py --only bert" in out and "secret" not in out


def _renderer(tmp_path, lang="en"):
    (tmp_path / "exp" / "figures").mkdir(parents=True)
    (tmp_path / "exp" / "metrics.json").write_text(json.dumps({"a": {"b": 0.5}, "c": [1, 2]}))
    (tmp_path / "exp" / "figures" / "curve.svg").write_text("<svg/>")
    return hook.PageRenderer(
        hook.Results(tmp_path),
        {"cat": {"fa": "گربه", "en": "cat"}},
        {},
        lang,
        "en/part1-bert/",
        hook.make_env(),
    )


def test_missing_key_fails_naming_experiment_and_key(tmp_path):
    renderer = _renderer(tmp_path)
    assert renderer.render("{{ R.exp.a.b | string }}", "p.en.md") == "0.5"
    with pytest.raises(Exception, match=r"results/exp/metrics.json has no key 'a.missing'"):
        renderer.render("{{ R.exp.a.missing }}", "p.en.md")
    with pytest.raises(Exception, match="undefined"):
        renderer.render("{{ no_such_name }}", "p.en.md")
    with pytest.raises(Exception, match=r"results/exp/figures/nope"):
        renderer.render('{{ figure("exp", "nope", "c") }}', "p.en.md")


def test_figures_and_tables_are_numbered_in_the_page_language(tmp_path):
    renderer = _renderer(tmp_path, lang="fa")
    out = renderer.render(
        '{{ figure("exp", "curve", "منحنی", alt="متن جایگزین") }}'
        '{{ figure("exp", "curve", "دوم") }}'
        '{{ html_table("جدول آزمون", ["الف"], [[0.25], ["cat"]]) }}',
        "p.fa.md",
    )
    assert "شکل ۱" in out and "شکل ۲" in out and "جدول ۱" in out
    assert 'alt="متن جایگزین"' in out and "۰٫۲۵۰" in out and "گربه" in out
    assert 'src="../../results/exp/figures/curve.svg"' in out  # from /en/part1-bert/ to /results/


def test_the_search_worker_and_the_query_are_normalised_alike(site):
    """Material's search worker carries the Persian normalisation of the index, and every page loads
    the one of the query (tests/test_browser.py types each written form)."""
    workers = list((site / "assets" / "javascripts" / "workers").glob("search.*.js"))
    assert workers and all("hw1Persian" in w.read_text(encoding="utf-8") for w in workers)
    for page in (site / "index.html", site / "en" / "index.html"):
        assert "assets/search.js" in page.read_text(encoding="utf-8")


# ----- the configuration a page reads: as run (provenance.json), never configs/ for the run's profile --


def _classification_results(tmp_path, change) -> Path:
    """results/classification/ with the committed provenance, its recorded configuration changed."""
    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "results" / "classification"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    provenance = json.loads(
        (root / "results" / "classification" / "provenance.json").read_text(encoding="utf-8")
    )
    change(provenance["config"])
    (folder / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
    return folder.parent


def test_config_is_the_one_the_results_ran_with(tmp_path):
    from hw1 import config as hw1_config

    results = _classification_results(tmp_path, lambda c: c["mlp"].update(epochs=3))  # e.g. --set
    profile = json.loads((results / "classification" / "provenance.json").read_text())["profile"]
    other = "gpu" if profile != "gpu" else "cpu"
    renderer = hook.PageRenderer(hook.Results(results), {}, {}, "en", "", hook.make_env())
    page = f'{{{{ config("classification", "{profile}").mlp.epochs }}}} {{{{ config("classification", "{other}").mlp.epochs }}}}'
    expected = hw1_config.read("classification", other, max_steps=0).values["mlp"]["epochs"]
    assert (
        renderer.render(page, "p.en.md") == f"3 {expected}"
    )  # the run's profile: as run; another: as resolved
    assert "from_scratch" not in hw1_config.read("classification", "gpu", max_steps=0).values["beit"]


def test_a_recorded_configuration_the_code_no_longer_accepts_fails_naming_the_run(tmp_path):
    pytest.importorskip("torch")  # the check needs the experiment's Config (its module imports torch)
    results = _classification_results(tmp_path, lambda c: c["mlp"].update(epochs="three"))
    renderer = hook.PageRenderer(hook.Results(results), {}, {}, "en", "", hook.make_env())
    with pytest.raises(
        Exception, match=r"results/classification/provenance.json \(config\).*mlp.epochs.*rerun"
    ):
        renderer.render("{{ D.classification }}", "p.en.md")


def test_without_torch_the_recorded_configuration_is_used_as_it_is(tmp_path, monkeypatch):
    """The Pages job installs no torch: the experiment's Config cannot be imported, nothing is checked."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a)
    )
    results = _classification_results(tmp_path, lambda c: c["mlp"].update(epochs="three"))
    profile = json.loads((results / "classification" / "provenance.json").read_text())["profile"]
    renderer = hook.PageRenderer(hook.Results(results), {}, {}, "en", "", hook.make_env())
    assert (
        renderer.render(f'{{{{ config("classification", "{profile}").mlp.epochs }}}}', "p.en.md") == "three"
    )


def test_interface_words_are_in_text_and_in_both_languages():
    """The site's own words come from text/interface.yaml (hw1.site.words), none from its Python."""
    from hw1.site import words

    for group in ("page", "overrides_note", "provenance", "verify", "glossary_table"):
        fa, en = words.words(group, "fa"), words.words(group, "en")
        assert fa.keys() == en.keys() and all(fa.values()) and all(en.values()), group
    site = Path(__file__).resolve().parents[1] / "src" / "hw1" / "site"
    for module in ("hook", "templates", "figures", "records", "results", "words", "postprocess"):
        text = (site / f"{module}.py").read_text(encoding="utf-8")
        text = re.sub(r'PERSIAN_ALPHABET = "[^"]*"', "", text)  # the glossary's sort order, not a word
        persian = re.findall(r"[\u0600-\u06ff\u200c]{2,}", text)
        assert not persian, (
            f"src/hw1/site/{module}.py holds interface words: {persian[:5]} (text/interface.yaml)"
        )
