"""The report layer: pure functions from an experiment's results (metrics.json and the configuration
as run, from provenance.json) to the values and verdicts its pages show.

Templates paste these values and choose sentences by their verdict keys; they compute nothing. This
package is not part of any experiment's cache key: changing it rebuilds the site and reruns nothing.
`derive(name, metrics, config)` is what the site calls (as D.<experiment> in a page).
"""

from __future__ import annotations

from hw1.report import bert, classification, conv_attention, segmentation

DERIVE = {
    "bert": bert.derive,
    "classification": classification.derive,
    "conv_attention": conv_attention.derive,
    "segmentation": segmentation.derive,
}


def derive(name: str, metrics: dict, config: dict | None = None) -> dict:
    """The derived values of one experiment ({} for an experiment without a report module)."""
    function = DERIVE.get(name)
    return function(metrics, config or {}) if function else {}
