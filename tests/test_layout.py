"""The interchange layout: bit-exact round trip and a clear error for each malformed file."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from goldstar import InputError, read_problem, write_problem
from goldstar.store.layout import MATRIX, PROBLEM_JSON, RECORDS, TARGETS


def test_round_trip_is_bit_exact(medium, tmp_path):
    write_problem(medium, tmp_path / "p")
    back = read_problem(tmp_path / "p")
    for name in ("w0", "t", "record_ids"):
        assert getattr(back, name).tobytes() == getattr(medium, name).tobytes(), name
    for name in ("lam", "c"):
        assert getattr(back.penalized, name).tobytes() == getattr(medium.penalized, name).tobytes(), name
    assert back.A.indptr.tolist() == medium.A.indptr.tolist()
    assert back.A.indices.tobytes() == medium.A.indices.tobytes()
    assert back.A.data.tobytes() == medium.A.data.tobytes()
    assert back.target_names == medium.target_names
    assert (back.penalty, back.lower, back.upper) == (medium.penalty, medium.lower, medium.upper)
    assert back.content_hash() == medium.content_hash()


def test_files_follow_the_layout(tiny, tmp_path):
    write_problem(tiny, tmp_path / "p")
    matrix = pq.read_table(tmp_path / "p" / MATRIX)
    assert matrix.schema.field("row").type == pa.int32()
    assert matrix.schema.field("col").type == pa.int32()
    assert matrix.schema.field("value").type == pa.float64()
    rows, cols = matrix.column("row").to_numpy(), matrix.column("col").to_numpy()
    assert np.all(np.diff(rows.astype(np.int64) * tiny.J + cols) > 0)
    assert pq.read_table(tmp_path / "p" / RECORDS).column_names == ["w0", "record_id"]
    assert pq.read_table(tmp_path / "p" / TARGETS).column_names == ["name", "target"]
    settings = json.loads((tmp_path / "p" / PROBLEM_JSON).read_text())
    assert settings["objective"] == {"name": "penalized", "penalty": 0.01}
    assert (settings["lower"], settings["upper"]) == (0.1, 10.0)


def test_record_id_is_optional(tiny, tmp_path):
    write_problem(tiny, tmp_path / "p")
    pq.write_table(pa.table({"w0": pa.array(tiny.w0)}), tmp_path / "p" / RECORDS)
    assert read_problem(tmp_path / "p").record_ids.tolist() == list(range(tiny.n))


def _rewrite(path, **columns):
    table = pq.read_table(path)
    for name, values in columns.items():
        if values is None:
            table = table.drop([name])
        else:
            table = table.set_column(table.column_names.index(name), name, values)
    pq.write_table(table, path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / MATRIX).unlink(), "matrix.parquet: missing"),
        (lambda d: (d / PROBLEM_JSON).unlink(), "problem.json: missing"),
        (lambda d: (d / PROBLEM_JSON).write_text("{"), "problem.json: not valid JSON"),
        (lambda d: (d / PROBLEM_JSON).write_text('{"penalty": 0.01, "lower": 0.1}'), "missing key 'upper'"),
        (lambda d: (d / RECORDS).write_bytes((d / RECORDS).read_bytes()[:100]), "truncated or not a Parquet file"),
        (lambda d: _rewrite(d / RECORDS, w0=None), "missing column 'w0'"),
        (lambda d: _rewrite(d / MATRIX, row=pa.array([0, 1, 1, 2, 3, 3], pa.int64())), "column 'row' must be int32"),
        (lambda d: _rewrite(d / MATRIX, col=pa.array([0, 0, 1, 1, 0, 5], pa.int32())), "entry 5 has col 5, outside 0..1"),
        (lambda d: _rewrite(d / MATRIX, row=pa.array([1, 0, 1, 2, 3, 3], pa.int32())), "must be sorted by row then col"),
        (lambda d: _rewrite(d / RECORDS, w0=pa.array([1.0, -1.0, 1.0, 1.0])), "w0 must be > 0: record 1"),
        (lambda d: _rewrite(d / TARGETS, name=pa.array(["a", "a"])), "duplicate target names"),
        (lambda d: _rewrite(d / TARGETS, target=pa.array([1.0, float("nan")])), "non-finite"),
    ],
)
def test_malformed_directory_gets_a_clear_error(tiny, tmp_path, damage, message):
    write_problem(tiny, tmp_path / "p")
    damage(tmp_path / "p")
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        read_problem(tmp_path / "p")


def test_rewriting_replaces_the_directory_whole(tiny, medium, tmp_path):
    write_problem(medium, tmp_path / "p")
    with pytest.raises(InputError, match="already holds a goldstar problem"):
        write_problem(tiny, tmp_path / "p")
    assert read_problem(tmp_path / "p").n == medium.n
    write_problem(tiny, tmp_path / "p", replace=True)
    assert read_problem(tmp_path / "p").n == tiny.n
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p"]
