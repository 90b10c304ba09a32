"""The defaults every module and command shares, each in this one place (no heavy imports, so the
command line can read them before it loads numpy)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_YEAR = 2015  # the SOI year of the default problem (TMD's notes)
DEFAULT_PENALTY = 0.01  # the penalized objective's penalty (docs/penalized.md)
DEFAULT_LOWER = 0.1  # the multiplier box of both objectives' national problems
DEFAULT_UPPER = 10.0
# where `make goldstar` writes each objective's reference (relative to the project root)
DEFAULT_REFERENCES = {"penalized": Path("reference") / "default", "band": Path("reference") / "band"}
