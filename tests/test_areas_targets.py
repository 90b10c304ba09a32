"""Area inputs, recipe, share targets and synthetic splits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.areas_helpers import small_national
from goldstar.areas.inputs import STATES, read_soi_states
from goldstar.areas.recipe import read_recipe
from goldstar.areas.synthetic import APPORTIONMENT_2020, allocate
from goldstar.areas.targets import make_areas, parse_area_set
from goldstar.exceptions import InputError


@pytest.fixture(scope="module")
def soi():
    return read_soi_states()


@pytest.fixture(scope="module")
def national():
    return small_national()


def test_recipe_has_the_77_cells():
    c = read_recipe()
    assert len(c) == 77
    names = {x.name for x in c}
    edges = [-9e99, 1.0, 1e4, 2.5e4, 5e4, 7.5e4, 1e5, 2e5, 5e5, 1e6, 9e99]
    for varname, count, fs in (("c00100", 1, 0), ("c00100", 0, 0), ("c00100", 1, 1), ("c00100", 1, 2),
                               ("c00100", 1, 4), ("e00200", 3, 0), ("e00200", 0, 0)):
        assert {f"{varname}/cnt={count}/scope=1/agi=[{lo!r},{hi!r})/fs={fs}"
                for lo, hi in zip(edges, edges[1:])} <= names
    assert "e00900/cnt=0/scope=1/agi=[-9e+99,9e+99)/fs=0" in names


def test_soi_table_has_the_51_areas(soi):
    assert len(soi) == 51 * 11
    assert soi.loc[("CA", 0), "N1"] > soi.loc[("WY", 0), "N1"]


def test_apportionment_is_435_plus_dc():
    assert sum(APPORTIONMENT_2020.values()) == 436 and set(APPORTIONMENT_2020) == set(STATES)


@pytest.mark.parametrize("area_set", ["states", "districts", "synthetic:300", "synthetic:7"])
def test_targets_add_up_to_the_nation(soi, national, area_set):
    areas = make_areas(area_set, soi, national)
    total = np.sum([a.targets for a in areas], axis=0)
    if area_set != "synthetic:7":  # 7 areas cannot cover 51 states
        # shares are ratios of the same sums: the areas give the national total back to rounding
        np.testing.assert_allclose(total, national.totals, rtol=1e-12)
        assert abs(sum(a.pop_share for a in areas) - 1.0) < 1e-12
    assert all(a.synthetic == (area_set != "states") for a in areas)


def test_district_set_is_436_labelled_synthetic(soi, national):
    areas = make_areas("districts", soi, national)
    assert len(areas) == 436
    assert all(a.name.endswith("-SYN") and a.synthetic and a.kind == "district" for a in areas)
    assert {a.name for a in areas} >= {"AK00-SYN", "CA52-SYN", "DC00-SYN"}


def test_synthetic_splits_are_seeded(soi, national):
    a = make_areas("districts", soi, national, seed=1)
    b = make_areas("districts", soi, national, seed=1)
    c = make_areas("districts", soi, national, seed=2)
    assert all(np.array_equal(x.targets, y.targets) for x, y in zip(a, b))
    assert not np.array_equal(a[0].targets, c[0].targets)
    # a listed district equals the same district of the whole set
    one = make_areas("NY03-SYN", soi, national, seed=1)[0]
    assert np.array_equal(one.targets, next(x for x in a if x.name == "NY03-SYN").targets)


def test_allocate_gives_every_state_one():
    counts = allocate(3000, np.arange(1, 52, dtype=float))
    assert counts.sum() == 3000 and counts.min() >= 1


@pytest.mark.parametrize("text", ["synthetic:x", "synthetic:0", "ZZ", "AL,QQ", " , "])
def test_bad_area_sets(text):
    with pytest.raises(InputError):
        parse_area_set(text)
