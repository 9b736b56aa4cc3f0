"""One Persian term per concept: the terms of text/glossary.yaml (`term: true`) and their variants
(`avoid`), looked for in every Persian page (docs/*.fa.md, text/sections/*.fa.md) and in the
Persian strings of the site's code (src/hw1/site/*.py, docs/assets/*.js); and the glossary page.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = yaml.safe_load((ROOT / "text" / "glossary.yaml").read_text(encoding="utf-8"))
TERMS = {key: entry for key, entry in GLOSSARY.items() if isinstance(entry, dict) and entry.get("term")}
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)  # code is not prose: left alone


def persian_sources() -> list[Path]:
    # text/figures.yaml: the figures' words (its English text is no match for a Persian variant)
    return sorted(
        [*ROOT.glob("docs/*.fa.md"), *ROOT.glob("text/sections/*.fa.md"), ROOT / "text" / "figures.yaml"]
    )


def variants_in(text: str) -> list[tuple[int, str, str, str]]:
    """(line, variant found, concept, term to use) for every variant of a glossary term in a text."""
    found = []
    prose = CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)  # keep the line numbers
    for entry in TERMS.values():
        for pattern in entry.get("avoid", []):
            for m in re.finditer(pattern, prose):
                found.append((prose.count("\n", 0, m.start()) + 1, m.group(0), entry["en"], entry["fa"]))
    return found


def test_glossary_terms_are_complete():
    assert len(TERMS) >= 30
    for key, entry in TERMS.items():
        assert entry.get("fa") and entry.get("en"), key
        for pattern in entry.get("avoid", []):
            re.compile(pattern)
            assert not re.search(pattern, entry["fa"]), (
                f"{key}: the term itself matches its variant {pattern!r}"
            )
    persian = [e["fa"] for e in TERMS.values()]
    assert len(persian) == len(set(persian)), "one Persian term for two concepts"


def test_the_variant_finder_finds_variants():
    text = "این رمزگذار نشانه‌ها را می‌گیرد و خطای آموزش را کم می‌کند؛ نشانه‌گذاری مهم نیست.\n`رمزگذار`"
    found = {(line, variant) for line, variant, _, _ in variants_in(text)}
    assert found == {(1, "رمزگذار"), (1, "نشانه"), (1, "خطای آموزش")}, found


def test_one_persian_term_per_concept_on_every_page():
    wrong = []
    for path in persian_sources():
        for line, variant, concept, term in variants_in(path.read_text(encoding="utf-8")):
            wrong.append(f"{path.relative_to(ROOT)}:{line}: «{variant}» for {concept}: use «{term}»")
    for path in [*ROOT.glob("src/hw1/site/*.py"), *ROOT.glob("docs/assets/*.js")]:
        strings = " ".join(
            re.findall(r"[\"']([^\"'\n]*[\u0600-\u06FF][^\"'\n]*)[\"']", path.read_text(encoding="utf-8"))
        )
        for _, variant, concept, term in variants_in(strings):
            wrong.append(f"{path.relative_to(ROOT)}: «{variant}» for {concept}: use «{term}»")
    wrong.sort(key=lambda w: (w.split(":")[0], int(w.split(":")[1]) if w.split(":")[1].isdigit() else 0))
    assert not wrong, f"{len(wrong)} variants of glossary terms:\n" + "\n".join(wrong)


def test_glossary_pages_list_every_term(site):
    fa = (site / "glossary" / "index.html").read_text(encoding="utf-8")
    en = (site / "en" / "glossary" / "index.html").read_text(encoding="utf-8")
    for entry in TERMS.values():
        assert entry["fa"] in fa and entry["en"].split(" (")[0] in fa, entry
        assert entry["fa"] in en and entry["en"].split(" (")[0] in en, entry
