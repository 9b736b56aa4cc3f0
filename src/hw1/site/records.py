"""Where a page's results come from (the template functions provenance, provenance_of, ran,
provenance_table, verify_table, experiments_table) and the note on results made with command-line
overrides."""

from __future__ import annotations

import html
import json
from typing import Any

import yaml
from markupsafe import Markup

from hw1.digits import persian_digits
from hw1.experiments import EXPERIMENTS  # the registry; imports no ML library
from hw1.site.figures import NotComputed, Verbatim
from hw1.site.words import words


def describe_overrides(overrides: dict, values: bool) -> str:
    """'--max-steps 5, batch_size=32' (values) or '--max-steps 5, batch_size' from provenance's `overrides`."""
    given = (overrides.get("values") or {}).items()
    return ", ".join(
        ([f"--max-steps {overrides['max_steps']}"] if overrides.get("max_steps") else [])
        + [f"{k}={json.dumps(v)}" if values else k for k, v in given]
    )


class Records:
    """The provenance functions of PageRenderer (hw1.site.templates)."""

    def ran(self, experiment: str, profile: str) -> bool:
        """Whether the committed results of an experiment come from this profile."""
        return self.results.exists(experiment) and self.provenance_of(experiment).get("profile") == profile

    def provenance(self) -> list[dict]:
        return self.results.provenance()

    def provenance_of(self, experiment: str) -> dict:
        return self.results.json(experiment, "provenance.json")

    def overrides_note(self) -> str:
        """A warning (Markdown) naming the results made with command-line overrides and the keys given
        (their values are on the Provenance page); "" when none are."""
        found = self.results.overridden()
        if not found:
            return ""
        details = "; ".join(f"{name} ({describe_overrides(o, values=False)})" for name, o in found.items())
        note = words("overrides_note", self.lang)
        title, body = note["title"], note["body"]
        return f'!!! warning "{title}"\n    {html.escape(body.format(details=details))}\n\n'

    def experiments_table(self, lang: str) -> list[list[Any]]:
        rows = []
        for spec in EXPERIMENTS.values():
            if self.results.exists(spec.name):
                p = self.provenance_of(spec.name)
                comma = words("page", lang)["comma"]
                status = Verbatim(
                    f"{p['profile']}{comma}{persian_digits(p['started_at'][:10]) if lang == 'fa' else p['started_at'][:10]}"
                )
            else:
                status = NotComputed(words("page", lang)["not_computed"])
            rows.append([Verbatim(spec.name), spec.title, status])  # a name is an identifier: as it is
        return rows

    def provenance_table(self, p: dict) -> Markup:
        labels = words("provenance", self.lang)
        versions = ", ".join(f"{k} {v}" for k, v in p["versions"].items() if v)
        inputs = (
            "; ".join(
                f"{name}: "
                + ", ".join(f"{k}={str(v)[:16]}" for k, v in fp.items() if k not in ("name", "path"))
                for name, fp in p["inputs"].items()
            )
            or "—"
        )
        rows = [
            [labels["profile"], p["profile"]],
            [labels["device"], p["device_name"]],
            *([[labels["precision"], p["precision"]]] if "precision" in p else []),
            *([[labels["threads"], p["threads"]]] if "threads" in p else []),
            *(
                [[labels["overrides"], Verbatim(describe_overrides(p["overrides"], values=True))]]
                if p.get("overrides")
                else []
            ),
            [labels["versions"], versions],
            [labels["commit"], p["git_commit"]],
            [
                labels["code"],
                p["key"]["code"][:16] + " (" + ", ".join(f.rsplit("/", 1)[-1] for f in p["code_files"]) + ")",
            ],
            [labels["config"], p["key"]["config"][:16]],
            [labels["inputs"], inputs],
            [labels["seed"], p["seed"]],
            [labels["started"], p["started_at"]],
            [labels["duration"], self.num(p["duration_s"], 1)],
        ]
        config = html.escape(yaml.safe_dump(p["config"], allow_unicode=True, sort_keys=False))
        table = self.html_table(labels["caption"].format(name=p["experiment"]), labels["head"], rows)
        return Markup(
            str(table) + f"\n<details><summary>{labels['config_full']}</summary>\n"
            f'<pre dir="ltr"><code>{config}</code></pre>\n</details>\n'
        )

    def verify_table(self, experiment: str) -> Markup:
        """The last `build_results.py --verify` of an experiment (results/<name>/verify.json), if any."""
        v = self.results.verify(experiment)
        if v is None:
            return Markup("")
        labels = words("verify", self.lang)
        rows = [
            [
                r["metric"],
                r["committed"],
                r["rerun"],
                r["difference"],
                float(r["tolerance"]),
                labels["ok"] if r["ok"] else labels["fail"],
            ]
            for r in v["metrics"]
        ]
        summary = labels["summary"].format(
            date=self.digits(v["date"][:10]),
            device=html.escape(str(v.get("device_name"))),
            precision=v.get("precision"),
            threads=self.int_(v.get("threads")),
            result=labels["passed"] if v["passed"] else labels["failed"],
            max=self.num(v.get("max_difference"), 4),
        )
        table = self.html_table(labels["caption"].format(name=experiment), labels["head"], rows, digits=4)
        return Markup(f"\n{summary}\n" + str(table))
