"""The documentation holds together: every relative link and anchor resolves, every docs/ page
the code names exists, no citation of pages outside the repository is left, README.md stays a
short first page, and the pages speak of goldstar, not of how it was made."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = [p for d in ("goldstar", "scripts", "tests") for p in sorted((ROOT / d).rglob("*.py"))]
README_MAX_LINES = 200

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def _prose(text: str) -> str:
    """The text without fenced code blocks (links are not read inside them)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, seen = set(), {}
    for line in _prose(page.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            found.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(_prose(page.read_text()))


def test_the_pages_exist():
    names = {p.name for p in PAGES if p.parent.name == "docs"}
    assert {"README.md", "penalized.md", "band.md", "areas.md", "taxcalc.md", "layout.md",
            "tolerances.md", "gpu.md", "api.md", "glossary.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    bad = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading with anchor #{anchor}")
    assert not bad, f"{page.relative_to(ROOT)}: " + "; ".join(bad)


def test_every_docs_page_the_code_names_exists():
    missing = []
    for path in CODE:
        for name in re.findall(r"docs/[\w./-]*?\.md", path.read_text()):
            if not (ROOT / name).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing


def test_no_citation_of_pages_outside_the_repository():
    left = [f"{p.relative_to(ROOT)}:{i}" for p in CODE if p.name != "test_docs.py"
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"(?<![\w/])design/", line)]
    assert not left, f"'design/' citations left (point them at docs/): {left}"


def test_the_readme_is_a_short_first_page():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines, more than {README_MAX_LINES}"


@pytest.mark.parametrize("page", PAGES + [ROOT / "BENCHMARKS.md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pages_speak_of_goldstar_not_of_how_it_was_made(page):
    text = page.read_text()
    found = re.findall(r"\bsessions?\b|\bissues? #?\d+", text, flags=re.IGNORECASE)
    assert not found, f"{page.relative_to(ROOT)}: {found}"


def test_slug_follows_github():
    assert slug("The band reference (`reference/band/`)") == "the-band-reference-referenceband"
    assert slug("Tolerances, and why") == "tolerances-and-why"
    assert slug("Soft and hard bands for small counts") == "soft-and-hard-bands-for-small-counts"
