"""Persian digits and number signs: one table for the pages (hw1.site) and the figures (hw1.plots).

Imports nothing: the site and the runner's --check must start fast.
"""

from __future__ import annotations

# the ten digits, the decimal separator (momayyez), the thousands separator, minus and percent
PERSIAN = str.maketrans("0123456789.,-%", "۰۱۲۳۴۵۶۷۸۹٫٬−٪")
PERSIAN_DIGITS_ONLY = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def persian(text: str) -> str:
    """A number as Persian writes it: "-1,234.5%" -> "−۱٬۲۳۴٫۵٪"."""
    return str(text).translate(PERSIAN)


def persian_digits(text: str) -> str:
    """Only the digits replaced (for text around numbers: "10<sup>" stays markup)."""
    return str(text).translate(PERSIAN_DIGITS_ONLY)
