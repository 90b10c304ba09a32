"""Area weights files with every year from the base year to the last, later years grown by the
population table (goldstar.areas.years), as TMD writes them and Tax-Calculator reads them."""

from __future__ import annotations

import gzip
import io
import os

import numpy as np
import pandas as pd
import pytest

from goldstar.areas.output import tmd_weights_csv_gz, tmd_weights_files
from goldstar.areas.years import DEFAULT_POPULATION, read_population, weight_years
from goldstar.defaults import DEFAULT_RECORDS
from goldstar.exceptions import InputError
from tests import areas_helpers
from tests.areas_helpers import small_records


def read_weights_file(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(gzip.decompress(data)))


def test_factors_are_the_cumulative_product_of_annual_growth():
    population = read_population()
    years = weight_years(2022, 2034, population)
    assert years.columns == [f"WT{y}" for y in range(2022, 2035)]
    expected, growth = [1.0], 1.0
    for y in range(2023, 2035):
        growth *= population[y] / population[y - 1]
        expected.append(growth)
    assert list(years.factors) == expected  # the same products in the same order: bit for bit
    assert years.factors[-1] == pytest.approx(population[2034] / population[2022], rel=1e-14)
    assert weight_years(2015, 2015, {}).factors == (1.0,)  # the base year alone needs no table


def test_the_file_holds_every_year_as_tmd_writes_it():
    years = weight_years(2015, 2034, read_population())
    weight = np.random.default_rng(1).lognormal(5, 2, 500)
    data = tmd_weights_csv_gz(years, weight)
    assert data[4:8] == bytes(4)  # gzip's time stamp left at 0: the same weights give the same bytes
    table = read_weights_file(data)
    assert list(table.columns) == years.columns
    for column, factor in zip(years.columns, years.factors):
        # TMD's 5 decimals: each value reads back as exactly the rounded weight
        assert np.array_equal(table[column].to_numpy(), np.round(weight * factor, 5))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_files_made_in_threads_are_each_ones_own_in_order(threads):
    """tmd_weights_files: the same bytes as tmd_weights_csv_gz, one a weight vector, in order."""
    years = weight_years(2015, 2020, read_population())
    weights = [np.random.default_rng(seed).lognormal(5, 2, 300) for seed in range(7)]
    made = list(tmd_weights_files(years, iter(weights), threads=threads))
    assert made == [tmd_weights_csv_gz(years, w) for w in weights]
    assert len(set(made)) == len(weights)


@pytest.mark.parametrize("text,message", [
    ("year,population\n2015,1\n2015,2\n", "row 3: year 2015 appears twice"),
    ("year,population\n2015,abc\n", "row 2, column `population`: 'abc' is not a number above 0"),
    ("year,population\n2015,0\n", "row 2, column `population`: '0' is not a number above 0"),
    ("year,population\n20x5,1\n", "row 2, column `year`: '20x5' is not a year"),
    ("year,pop\n2015,1\n", "lacks column(s) population"),
])
def test_a_bad_population_table_is_named(tmp_path, text, message):
    path = tmp_path / "pop.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_population(path)


def test_a_year_missing_from_the_table_is_named():
    with pytest.raises(InputError, match="no population for year.*2016"):
        weight_years(2015, 2017, {2015: 1.0, 2017: 2.0})
    with pytest.raises(InputError, match="--last-year 2010 is before the base year 2015"):
        weight_years(2015, 2010, {})


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    return areas_helpers.write_small_files(tmp_path_factory.mktemp("national"))


cli = areas_helpers.areas_cli


def test_a_batch_writes_every_year_and_records_them(tmp_path, small_files, monkeypatch, capsys):
    areas_helpers.use_standins(monkeypatch)
    out = tmp_path / "out"
    assert cli(small_files, out, "--areas", "AL", "--tmd-year", "2022", "--last-year", "2026") == 0
    table = pd.read_csv(out / "tmd" / "al_tmd_weights.csv.gz")
    assert list(table.columns) == [f"WT{y}" for y in range(2022, 2027)]
    years = weight_years(2022, 2026, read_population())
    base = pd.read_parquet(out / "m" / "AL.parquet")["m"].to_numpy()  # the stand-in's m (all 1)
    summary = pd.read_csv(out / "summary.csv")
    weight = summary.loc[0, "pop_share"] * small_records()["weight"].to_numpy() * base
    for column, factor in zip(years.columns, years.factors):
        np.testing.assert_array_equal(table[column], np.round(weight * factor, 5))
    # another last year is another batch: refused unless --rerun-all
    assert cli(small_files, out, "--areas", "AL", "--tmd-year", "2022", "--last-year", "2030") == 2
    assert "weight_years" in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--tmd-year", "2022", "--last-year", "2020"], "--last-year 2020 is before the base year 2022"),
    (["--last-year", "3000"], "`--last-year` must be a year from 1913 to 2100"),
    (["--no-tmd-weights", "--last-year", "2030"], "do not apply with --no-tmd-weights"),
    (["--tmd-year", "2005", "--last-year", "2012"], "no population for year(s) 2005, 2006, 2007, 2008, 2009"),
])
def test_bad_year_options_exit_2(tmp_path, small_files, capsys, extra, message):
    assert cli(small_files, tmp_path / "out", "--areas", "AL", *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_population_file_missing_a_year_exits_2(tmp_path, small_files, capsys):
    path = tmp_path / "pop.csv"
    path.write_text("year,population\n2015,320\n2017,330\n", encoding="utf-8")
    assert cli(small_files, tmp_path / "out", "--areas", "AL", "--last-year", "2017", "--population", str(path)) == 2
    assert f"--population {path}: no population for year(s) 2016" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tax_calculator_reads_the_file_and_advances_through_every_year(tmp_path):
    """Tax-Calculator (as TMD's users load area weights: weights_scale=1.0) reads a goldstar area
    weights file and advances through every year it carries; the weighted population, the sum
    of s006 x XTOT, is the base year's times the file's growth each year."""
    os.environ.setdefault("NOTAXCALCJIT", "1")
    taxcalc = pytest.importorskip("taxcalc", reason="Tax-Calculator is not installed (extra `taxcalc`)")
    data = pd.read_csv(DEFAULT_RECORDS, nrows=400)
    base = 2014  # the CPS file's data year (its FLPDYR says 2012; Tax-Calculator's own cps_constructor uses 2014)
    years = weight_years(base, 2034, read_population(DEFAULT_POPULATION))
    weight = data["s006"].to_numpy() / 100.0 * 0.02  # an area's share of the records' weights
    path = tmp_path / "xx_tmd_weights.csv.gz"
    path.write_bytes(tmd_weights_csv_gz(years, weight))
    records = taxcalc.Records(data=data, start_year=base, gfactors=taxcalc.GrowFactors(),
                              weights=pd.read_csv(path), weights_scale=1.0, adjust_ratios=None)
    calc = taxcalc.Calculator(policy=taxcalc.Policy(), records=records, verbose=False)
    people = data["XTOT"].to_numpy()
    first = float(np.sum(calc.array("s006") * people))
    np.testing.assert_allclose(first, float(weight @ people), rtol=1e-6)  # the file's 5 decimals
    for year, factor in zip(years.years, years.factors):
        if year > base:
            calc.advance_to_year(year)
        got = float(np.sum(calc.array("s006") * calc.array("XTOT")))
        np.testing.assert_allclose(got, float(np.round(weight * factor, 5) @ people), rtol=1e-13)
        np.testing.assert_allclose(got, first * factor, rtol=1e-6)  # the growth, to the file's 5 decimals
    assert calc.current_year == 2034
