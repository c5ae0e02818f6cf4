"""Escaping text and attribute values for inline SVG/HTML."""

from __future__ import annotations

import html


def esc(value: object) -> str:
    """Text or an attribute value, escaped; newlines kept as character references (tooltips use them)."""
    return html.escape(str(value), quote=True).replace("\n", "&#10;")


def num(v: float) -> str:
    """A coordinate with two decimals at most."""
    return f"{v:.2f}".rstrip("0").rstrip(".")
