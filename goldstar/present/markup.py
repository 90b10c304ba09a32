"""The HTML every goldstar page is made of: its mark, style, escaping, tables and embedded PNGs.

Imports nothing of goldstar: the reference report, the impact page and the areas report
(goldstar.present.report, .impact, goldstar.areas.report) all build on it.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

# The mark in the <head> of every HTML page goldstar writes (goldstar.store.outputs recognises it).
HTML_MARK = '<meta name="generator" content="goldstar">'

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.ok { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
img { max-width: 100%; } code { font-size: 0.9em; }
"""


class Html(str):
    """Markup written by this module (from escaped parts): put into the page as it is.

    Everything else that reaches the page, above all anything read from the
    reference's files (names, messages, paths, platform, versions), is text
    and is escaped (`esc`, `html_table`): a reference is data, never markup.
    """


def esc(x: Any) -> str:
    """`x` as escaped text (numbers formatted by fmt), or as it is when it is Html."""
    return x if isinstance(x, Html) else html.escape(fmt(x))


def page_head(title: str) -> str:
    """The start of every goldstar HTML page, to <body>: its mark (HTML_MARK), title, style."""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{HTML_MARK}<title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>")


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def png_img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def fmt(x: Any) -> str:
    """Plain text (not escaped): floats to 6 significant digits, bools as yes/no."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)
