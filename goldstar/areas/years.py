"""The years of an area weights file: the base year's weights, and each later year's by population growth.

TMD's area weights files (`<area>_tmd_weights.csv.gz`) carry one column per year, `WT<year>`,
from the base year (the national weights' year) to a last year (TMD's areas: 2034). A later
year's weights are the base year's times the cumulative population growth since the base
year, the product of the annual ratios pop[y] / pop[y - 1] of a population table (year ->
population; the shipped one is the CBO figures TMD uses, data/README.md). Tax-Calculator reads
such a file with `Records(..., weights=<file>, weights_scale=1.0)` and can then advance to any
year it carries.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import InputError
from ..store.tables import read_text_table
from .recipe import DATA_DIR

DEFAULT_POPULATION = DATA_DIR / "population_cbo2026.csv"
DEFAULT_LAST_YEAR = 2034  # TMD's areas (create_area_weights.py)


@dataclass(frozen=True)
class WeightYears:
    """The year columns of a weights file and each one's factor on the base year's weights."""

    base: int
    factors: tuple[float, ...]  # one a year from base on; the first is 1.0

    @property
    def years(self) -> range:
        return range(self.base, self.base + len(self.factors))

    @property
    def columns(self) -> list[str]:
        return [f"WT{year}" for year in self.years]

    def as_dict(self) -> dict[str, object]:
        return {"base": self.base, "last": self.years[-1], "factors": list(self.factors)}


def read_population(path: str | os.PathLike[str] = DEFAULT_POPULATION) -> dict[int, float]:
    """A population table, year -> population; InputError names the file, row and column."""
    path = Path(path)
    where = f"--population {path}"
    table = read_text_table(path, "--population", ("year", "population"))
    out: dict[int, float] = {}
    for k, row in table.iterrows():
        line = f"{where}: row {k + 2}"
        try:
            year = float(row["year"])
        except ValueError:
            year = math.nan
        if not math.isfinite(year) or year != round(year):
            raise InputError(f"{line}, column `year`: {row['year'].strip()!r} is not a year")
        try:
            value = float(row["population"])
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{line}, column `population`: {row['population'].strip()!r} is not a number above 0")
        if int(year) in out:
            raise InputError(f"{line}: year {int(year)} appears twice")
        out[int(year)] = value
    if not out:
        raise InputError(f"{where}: has no rows")
    return out


def weight_years(base: int, last: int, population: dict[int, float], where: str = "--population") -> WeightYears:
    """The columns base..last and their cumulative growth factors (module docstring)."""
    if last < base:
        raise InputError(f"--last-year {last} is before the base year {base} (--tmd-year)")
    if last > base:
        lacking = [y for y in range(base, last + 1) if y not in population]
        if lacking:
            raise InputError(f"{where}: no population for year(s) {', '.join(map(str, lacking[:5]))}; the weights "
                             f"of {base + 1}..{last} grow by it from {base}")
    factors, growth = [1.0], 1.0
    for year in range(base + 1, last + 1):
        growth *= population[year] / population[year - 1]
        factors.append(growth)
    return WeightYears(base, tuple(factors))


def year_columns(years: WeightYears, weight: np.ndarray) -> dict[str, np.ndarray]:
    """Each year's column of area weights."""
    weight = np.asarray(weight, dtype=np.float64)
    return {column: weight * factor for column, factor in zip(years.columns, years.factors)}
