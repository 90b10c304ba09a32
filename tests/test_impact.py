"""goldstar.present.impact without Tax-Calculator: totals by group, and which differences stand above the
noise floor (the larger floor of the two sets' solvers; an unknown solver takes the largest of all)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from goldstar.present.benchmark import noise_floor_section
from goldstar.present.impact import FILE_WEIGHTS, WeightSet, compute_impact, read_floors

RECORDS = np.array([11, 12, 13, 14])


def _table() -> pd.DataFrame:
    # AGI 10k, 30k, 150k, 2m; MARS single, joint, joint, single; tax in dollars
    return pd.DataFrame({
        "record_id": RECORDS, "weight": [1.0, 1.0, 1.0, 1.0],
        "tc_c00100": [10e3, 30e3, 150e3, 2e6], "tc_MARS": [1, 2, 2, 1],
        "tc_iitax": [0.0, 1e3, 20e3, 600e3], "tc_payrolltax": [1.5e3, 4.5e3, 20e3, 30e3],
    })


def _set(label: str, weight: list[float], solver: str | None) -> WeightSet:
    return WeightSet(label, RECORDS[::-1].copy(), np.array(weight[::-1]), solver)  # any record order


def test_totals_by_group_and_the_floor_of_the_two_solvers():
    base = _set("base", [1e3, 1e3, 1e3, 1e3], "newton")
    # record 14 (income tax 600e3, AGI 2m, single) moves by 1 weight: +0.0006 $bn of income tax
    other = _set("other", [1e3, 1e3, 1e3, 1e3 + 1], "lbfgsb")
    floors = {"newton": {"income tax/national": 1e-9, "income tax/single": 1e-9},
              "lbfgsb": {"income tax/national": 1e-3, "income tax/single": 1e-4}}
    impact = compute_impact(_table(), [base, other], floors=floors)
    assert impact.totals.at["income tax/national", "base"] == pytest.approx(621e3 * 1e3 / 1e9, rel=1e-15)
    assert impact.totals.at["income tax/AGI [1.0m, inf)", "base"] == pytest.approx(0.6, rel=1e-15)
    assert impact.totals.at["AGI/joint", "base"] == pytest.approx(180e3 * 1e3 / 1e9, rel=1e-15)
    diffs = impact.differences().set_index(["set", "total"])
    national = diffs.loc[("other", "income tax/national")]
    assert national["difference"] == pytest.approx(6e-4, rel=1e-9)
    assert national["floor"] == 1e-3 and not national["above_floor"]  # lbfgsb's floor, the larger
    single = diffs.loc[("other", "income tax/single")]
    assert single["floor"] == 1e-4 and single["above_floor"]
    # the file's own weights are never judged against a solver's floor
    assert diffs.loc[(FILE_WEIGHTS, "income tax/national")]["above_floor"] is None
    view = impact.record_view[0]
    assert (view["differ"], view["record_id"]) == (0, 14)  # 1 in 1,000 is within 1%


def test_a_set_of_unknown_solver_takes_the_largest_floor_of_all():
    base = _set("base", [1e3] * 4, "newton")
    other = _set("other", [1e3, 1e3, 1e3, 1e3 + 1], None)
    floors = {"newton": {"income tax/national": 1e-9}, "clarabel": {"income tax/national": 1e-2}}
    diffs = compute_impact(_table(), [base, other], floors=floors, file_weights=False).differences()
    row = diffs[diffs["total"] == "income tax/national"].iloc[0]
    assert row["floor"] == 1e-2 and not row["above_floor"]


def test_floors_are_read_in_the_amounts_compared(tmp_path):
    path = tmp_path / "noise_floor.json"
    assert read_floors("aged", path) == {}  # not measured: nothing marked
    floors = {amounts: {"newton": {f"{q}/national": scale for q in ("income tax", "payroll tax", "AGI")}}
              for amounts, scale in (("unaged", 1.0), ("aged", 2.0))}
    run = {"options": {}, "max_relative_weight_difference": 0.0, "records_differing_1pct": 0,
           **{order: {"seconds": 1.0, "iterations": 3, "loss": 1.0, "message": "ok"}
              for order in ("order 1", "order 2")}}
    path.write_text(json.dumps({"floors": floors, "runs": {"newton": run}, "command": "c", "taxcalc": "6.8.0",
                                "year": 2015, "seed": 0, "platform": "p"}))
    assert read_floors("unaged", path)["newton"]["income tax/national"] == 1.0
    assert read_floors("aged", path)["newton"]["income tax/national"] == 2.0
    with pytest.raises(ValueError):
        read_floors("nominal", path)
    text = "\n".join(noise_floor_section(tmp_path))
    assert "$bn, unaged amounts:" in text and "$bn, aged amounts:" in text


def test_html_marks_what_stands_above_the_floor_and_escapes_the_rest():
    from goldstar.present.impact import html_section

    base = _set("<base>", [1e3] * 4, "newton")
    other = _set("other", [1e3, 1e3, 1e3, 1e3 + 1], "lbfgsb")
    floors = {"newton": {"income tax/single": 1e-9}, "lbfgsb": {"income tax/single": 1e-4}}
    page = html_section(compute_impact(_table(), [base, other], floors=floors))
    assert "<b>+0.0006</b> (floor 0.0001)" in page  # markup, not its escaped text
    assert "&lt;base&gt;" in page and "<base>" not in page  # a label is text
    assert "&amp;" not in page and "&lt;b&gt;" not in page  # nothing escaped twice


def _parquet(path, **columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("columns, message", [
    ({"record_id": np.array([], np.int64), "weight": np.array([])}, "no records"),
    ({"record_id": ["a", "b"], "weight": [1.0, 2.0]}, "column record_id must hold numbers"),
    ({"record_id": [1, 2], "weight": ["1", "2"]}, "column weight must hold numbers"),
    ({"record_id": [1, 2], "weight": [1.0, None]}, "column weight has 1 empty value(s)"),
    ({"record_id": [1, 2], "weight": [1.0, np.inf]}, "1 weight(s) not finite, e.g. record_id 2"),
    ({"record_id": [1, 2], "weight": [-1.0, 2.0]}, "1 weight(s) negative, e.g. record_id 1"),
    ({"record_id": [1, 1, 2], "weight": [1.0, 1.0, 2.0]}, "record_id 1 appears more than once"),
    ({"record_id": [1.5, 2.0], "weight": [1.0, 2.0]}, "record_id must hold whole numbers"),
])
def test_bad_weights_files_are_refused_by_name(tmp_path, columns, message):
    from goldstar.exceptions import InputError
    from goldstar.present.impact import load_weights

    path = _parquet(tmp_path / "w.parquet", **columns)
    with pytest.raises(InputError, match=re.escape(message)):
        load_weights(path)


def test_whole_float_ids_are_ids_and_a_tampered_reference_is_refused(tmp_path, small_reference):
    import shutil

    import pyarrow.parquet as pq

    from goldstar.exceptions import InputError
    from goldstar.present.impact import load_weights

    ws = load_weights(_parquet(tmp_path / "w.parquet", record_id=[3.0, 1.0], weight=[1.0, 2.0]))
    assert ws.record_id.dtype == np.int64 and ws.record_id.tolist() == [3, 1]
    ref = tmp_path / "ref"
    shutil.copytree(small_reference / "ref", ref)
    table = pq.read_table(ref / "weights.parquet")
    weight = table.column("weight").to_numpy().copy()
    weight[0] *= 1.5
    pq.write_table(table.set_column(table.column_names.index("weight"), "weight", [weight]),
                   ref / "weights.parquet")
    with pytest.raises(InputError, match="no longer match its recorded hash"):
        load_weights(ref)
