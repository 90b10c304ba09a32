"""Area inputs, recipe, share targets and synthetic splits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.areas_helpers import small_national
from goldstar.areas.inputs import STATES, read_soi_states
from goldstar.areas.recipe import cells, read_recipe
from goldstar.areas.synthetic import APPORTIONMENT_2020, allocate
from goldstar.areas.targets import make_areas, parse_area_set
from goldstar.exceptions import InputError


@pytest.fixture(scope="module")
def soi():
    return read_soi_states()


@pytest.fixture(scope="module")
def national():
    return small_national()


def test_recipe_has_the_77_cells_of_the_issue():
    c = cells(read_recipe())
    assert len(c) == 77
    names = {x.name for x in c}
    for family in ("returns", "agi", "returns_single", "returns_joint", "returns_hoh", "wage_returns", "wages"):
        assert {f"{family}/agi_stub_{k:02d}" for k in range(1, 11)} <= names
    assert "business_net_income/all" in names


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
