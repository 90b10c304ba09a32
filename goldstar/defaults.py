"""The defaults every module and command shares, each in this one place (no heavy imports, so the
command line can read them before it loads numpy)."""

from __future__ import annotations

from pathlib import Path

VERSION = "0.1.0"  # goldstar's version (pyproject.toml reads it from here)

# The vendored inputs (provenance in data/README.md), package data found through the package,
# so that an installed goldstar runs from any directory.
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_RECORDS = DATA_DIR / "cps.csv.gz"  # the embedded CPS file (Tax-Calculator's cps.csv.gz)
DEFAULT_TARGETS = DATA_DIR / "soi.csv"  # the SOI national targets (TMD's soi.csv)
DEFAULT_SOI_STATES = DATA_DIR / "soi_states_2022.csv"  # IRS SOI Historic Table 2, 2022
# Each solver's measured noise floor in Tax-Calculator's totals (scripts/noise_floor.py writes it,
# `goldstar impact` reads it): a measurement of this checkout, not package data.
NOISE_FLOOR = DATA_DIR.parent.parent / "benchmarks" / "noise_floor.json"

# The Tax-Calculator release the taxcalc engine is pinned to: pyproject.toml's `taxcalc` extra
# says the same (tests/test_packaging.py holds them together). 6.8.0 is the last for Python 3.11.
TAXCALC_PIN = "taxcalc==6.8.0"

DEFAULT_YEAR = 2015  # the SOI year of the default problem (TMD's notes)
DEFAULT_PENALTY = 0.01  # the penalized objective's penalty (docs/penalized.md)
DEFAULT_LOWER = 0.1  # the multiplier box of both objectives' national problems
DEFAULT_UPPER = 10.0
# The band objective's parameters (goldstar.problem.objectives.band), the same for national
# problems and areas (TMD's settings): every target within +/- eps of its value, slack penalty M.
DEFAULT_EPS = 0.005
DEFAULT_SLACK_PENALTY = 1e6
SLACK_UNITS = ("target", "relative")  # the first is the default: TMD's construction
UNREACHABLE_POLICIES = ("drop", "error")  # the first is the default
DEFAULT_SLACK_UNITS, DEFAULT_UNREACHABLE = SLACK_UNITS[0], UNREACHABLE_POLICIES[0]
# An area's multiplier box: [0, the cap of its kind] (TMD's areas)
AREA_LOWER = 0.0
AREA_UPPER_BY_KIND = {"state": 25.0, "district": 50.0, "synthetic": 50.0}
# where `make goldstar` writes each objective's reference (relative to the project root)
DEFAULT_REFERENCES = {"penalized": Path("reference") / "default", "band": Path("reference") / "band"}
# how many dropped targets a command prints before "... and N more" (the full list is in its files)
SHOWN_DROPPED = 10
