"""verify checks every stored column and MANIFEST.json, not only m."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from goldstar.cli import main
from goldstar.store.reference import METADATA_KEY, read_reference, weights_hash


@pytest.fixture
def ref(small_reference, tmp_path):
    shutil.copytree(small_reference / "problem", tmp_path / "problem")
    shutil.copytree(small_reference / "ref", tmp_path / "ref")
    return tmp_path / "ref"


def _verify(ref, capsys, *modes: str) -> tuple[int, str]:
    argv = ["verify", "--reference", str(ref), "--problem", str(ref.parent / "problem")]
    for mode in modes:
        argv += ["--mode", mode]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _edit_targets(ref, column: str, edit) -> None:
    table = pq.read_table(ref / "targets.parquet")
    values = table.column(column).to_numpy().copy()
    edit(values)
    pq.write_table(table.set_column(table.column_names.index(column), column, pa.array(values)),
                   ref / "targets.parquet")


def _edit_manifest(ref, edit) -> None:
    manifest = json.loads((ref / "MANIFEST.json").read_text())
    edit(manifest)
    (ref / "MANIFEST.json").write_text(json.dumps(manifest))


def test_a_fresh_reference_passes_every_column_check(ref, capsys):
    code, out = _verify(ref, capsys, "hash", "certificate")
    assert code == 0, out
    for name in ("weight = w0 * m", "MANIFEST.json fields", "MANIFEST.json fingerprint", "w0 = problem's w0",
                 "target = problem's target", "fitted = A^T (w0 m)", "rel_error", "dual = B^T m - c",
                 "MANIFEST.json loss = f(m)"):
        assert f"columns      {name}" in out


def _bump(i: int, factor: float):
    def edit(values):
        values[i] = values[i] * factor if values[i] else factor - 1.0
    return edit


@pytest.mark.parametrize("column, edit, failing", [
    ("fitted", _bump(3, 1 + 1e-9), "columns/fitted = A^T (w0 m)"),
    ("target", _bump(3, 1 + 1e-15), "columns/target = problem's target"),
    ("rel_error", lambda v: v.__setitem__(5, np.nextafter(v[5], np.inf)), "columns/rel_error"),
    ("dual", _bump(7, 1 + 1e-6), "columns/dual = B^T m - c"),
])
def test_an_edited_targets_column_fails_naming_it(ref, capsys, column, edit, failing):
    _edit_targets(ref, column, edit)
    code, out = _verify(ref, capsys, "certificate")
    assert code == 1
    assert failing in out


@pytest.mark.parametrize("edit, failing", [
    (lambda m: m.__setitem__("weights_hash", "xxh3_128:" + "0" * 32), "columns/MANIFEST.json fields"),
    (lambda m: m["weight_fingerprint"].__setitem__("total", m["weight_fingerprint"]["total"] * (1 + 1e-9)),
     "columns/MANIFEST.json fingerprint"),
    (lambda m: m.__setitem__("loss", m["loss"] * (1 + 1e-9)), "columns/MANIFEST.json fields"),
    (lambda m: m.__setitem__("solver_chain", ["newton"]), "columns/MANIFEST.json fields"),
    (lambda m: m.pop("problem_hash"), "columns/MANIFEST.json fields"),
])
def test_an_edited_manifest_fails_naming_it(ref, capsys, edit, failing):
    _edit_manifest(ref, edit)
    code, out = _verify(ref, capsys, "hash")
    assert code == 1
    assert failing in out


def test_a_weight_that_is_not_w0_times_m_fails_even_with_a_matching_hash(ref, capsys):
    r = read_reference(ref)
    weight = r.weight.copy()
    weight[11] = np.nextafter(weight[11], np.inf)
    _rewrite_weights(ref, r, w0=r.w0, weight=weight)
    code, out = _verify(ref, capsys, "hash")
    assert code == 1 and "columns/weight = w0 * m" in out
    assert "hash/weights" not in out.split("verification failed:")[1]


def test_a_w0_that_is_not_the_problems_fails(ref, capsys):
    r = read_reference(ref)
    w0 = r.w0.copy()
    w0[2] *= 1 + 1e-12
    _rewrite_weights(ref, r, w0=w0, weight=w0 * r.m)
    code, out = _verify(ref, capsys, "hash", "certificate")
    assert code == 1
    assert "columns/w0 = problem's w0" in out


def _rewrite_weights(ref, r, *, w0, weight) -> None:
    """Rewrite weights.parquet with consistent hashes, as a careful forger would."""
    digest = weights_hash(r.record_id, w0, r.m, weight)
    meta = dict(r.metadata, weights_hash=digest)
    table = pa.table({"record_id": r.record_id, "w0": w0, "m": r.m, "weight": weight})
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), ref / "weights.parquet")
    _edit_manifest(ref, lambda m: m.__setitem__("weights_hash", digest))
