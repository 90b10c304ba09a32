"""`goldstar report` renders what it claims; scripts/bench.py runs end to end on tiny sizes."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path

import pytest

import html

from goldstar.cli import main
from goldstar.verify import verify
from goldstar.store.layout import write_problem
from goldstar.store.reference import read_reference, weight_fingerprint
from goldstar.inputs.synth import synth_problem

REPO = Path(__file__).resolve().parent.parent
pytest.importorskip("matplotlib", reason="plots need the 'plots' extra: pip install 'goldstar[plots]'")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    write_problem(synth_problem(1200, 40, seed=31), base / "problem")
    argv = ["goldstar", "--problem", str(base / "problem"), "--reference", str(base / "ref"),
            "--lbfgsb-maxiter", "100", "--quiet"]
    assert main(argv) == 0
    return base / "ref"


def test_report_contains_the_figures_it_claims(reference, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "--reference", str(reference), "--out", str(out)]) == 0
    page = out.read_text()
    ref = read_reference(reference)
    # the certificate's checks are verify's own, figure for figure
    checks = verify(reference, ("certificate",)).checks
    for check in checks:
        assert f"<td>{html.escape(check.name)}</td>" in page and f"<td>{html.escape(check.figure)}</td>" in page
    # the verdict and a summary come first; the provenance, with the certificate as recorded, last and collapsed
    assert page.index("Certificate: <span class=\"ok\">pass</span>") < page.index("<table>")
    assert page.index("<details>") > page.index("Solver stages")
    assert "certificate as recorded when written" in page.split("<details>")[1]
    assert f"{weight_fingerprint(ref.weight)['total']:.6g}" in page
    for stage in ref.metadata["solver_chain"]:
        assert f"{stage['loss']:.12g}" in page
    # histogram, target fit and convergence curves, each a real PNG
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # targets grouped by variable
    assert "employment_income" in page and "count" in page


def test_report_of_a_weights_file_on_its_problem(reference, tmp_path):
    """`goldstar report --weights FILE --problem DIR`: any weights, e.g. solve's, certified here."""
    problem = reference.parent / "problem"
    weights = tmp_path / "w.parquet"
    assert main(["solve", str(problem), "--out", str(weights), "--quiet"]) == 0
    out = tmp_path / "w.html"
    assert main(["report", "--weights", str(weights), "--problem", str(problem), "--out", str(out)]) == 0
    page = out.read_text()
    assert "Certificate: <span class=\"ok\">pass</span>" in page and "fixed-point error" in page
    assert "newton" in page  # the solver named in the weights file
    # half the weights: far from the optimum, and the page says so
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(weights)
    halved = table.set_column(table.schema.get_field_index("weight"), "weight",
                              pa.array(table.column("weight").to_numpy() / 2))
    pq.write_table(halved, tmp_path / "half.parquet")
    assert main(["report", "--weights", str(tmp_path / "half.parquet"), "--problem", str(problem),
                 "--out", str(tmp_path / "half.html")]) == 0
    assert "Certificate: <span class=\"fail\">FAIL</span>" in (tmp_path / "half.html").read_text()
    assert main(["report", "--weights", str(weights), "--out", str(tmp_path / "x.html")]) == 2


def test_report_of_a_missing_reference_exits_2(tmp_path, capsys):
    assert main(["report", "--reference", str(tmp_path / "none"), "--out", str(tmp_path / "r.html")]) == 2
    assert not (tmp_path / "r.html").exists()


def test_bench_script_runs_end_to_end_on_tiny_sizes(tmp_path):
    spec = importlib.util.spec_from_file_location("bench", REPO / "scripts" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "BENCH.md"
    solvers = "newton,lbfgsb,osqp,clarabel"
    assert bench.main(["--sizes", "1500,3000", "--targets", "50", "--default-records", "1500", "--cap", "3",
                       "--solvers", solvers, "--series-solvers", "newton,lbfgsb", "--out", str(out),
                       "--plots-dir", str(tmp_path / "plots")]) == 0
    text = out.read_text()
    raw = json.loads((tmp_path / "plots" / "bench.json").read_text())
    assert "## Every solver on the default problem" in text and "## Synthetic series" in text
    for run in raw["runs"]:
        # every run in the JSON appears in the Markdown with its loss to 12 digits
        assert f"{run['loss']:.12f}" in text
    assert {r["solver"] for r in raw["runs"]} >= {"newton", "lbfgsb"}
    assert (tmp_path / "plots" / "loss_gap_default.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "newton_seconds_vs_n.png").stat().st_size > 1000
    assert "loss_gap_default.png" in text and "newton_seconds_vs_n.png" in text
    # --render-only rewrites the same tables from bench.json without running anything
    out.unlink()
    assert bench.main(["--render-only", "--out", str(out), "--plots-dir", str(tmp_path / "plots")]) == 0
    assert out.read_text().split("## Newton vs")[1] == text.split("## Newton vs")[1]
    # a saved GPU check is rendered from its JSON
    gpu = {"device": "Test GPU", "torch": "x", "python": "3", "numpy": "2",
           "runs": [{"problem": "p", "backend": "torch cuda", "seconds": 0.123, "iterations": 7, "loss": 1.5,
                     "max_rel_diff_vs_reference": 2.5e-12, "certificate_passed": True}],
           "torch_lbfgs_device_vs_cpu": {"steps": 3, "max_rel_diff": 4.25, "allclose_weights": False}}
    (tmp_path / "plots" / "gpu-test.json").write_text(json.dumps(gpu))
    assert bench.main(["--render-only", "--out", str(out), "--plots-dir", str(tmp_path / "plots")]) == 0
    rendered = out.read_text()
    assert "## GPU check: Test GPU" in rendered and "| 0.123 | 7 |" in rendered and "4.25" in rendered
    # so is a band GPU check, in its own columns
    band = {"device": "Test GPU", "torch": "x", "python": "3", "numpy": "2",
            "runs": [{"problem": "b", "backend": "torch cuda", "seconds": 0.25, "inner_iterations": 108,
                      "objective": 177750.5, "max_rel_diff": 5e-12, "certificate_passed": True}]}
    (tmp_path / "plots" / "gpu-test-band.json").write_text(json.dumps(band))
    # the other benchmarks' sections of the file (band, areas) and text between them are kept
    other = "<!-- band-bench:start -->\n## Band objective\nkept\n<!-- band-bench:end -->\n\nA note.\n"
    out.write_text(out.read_text() + "\n" + other)
    assert bench.main(["--render-only", "--out", str(out), "--plots-dir", str(tmp_path / "plots")]) == 0
    rendered = out.read_text()
    assert "| 0.250 | 108 | 177750.5 | 5e-12 | pass |" in rendered and "`scripts/device_check_band.py`" in rendered
    assert rendered.endswith(other) and rendered.count("## Every solver on the default problem") == 1


def test_report_escapes_everything_read_from_the_reference(small_reference, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from goldstar.store.reference import METADATA_KEY

    evil = "<script>alert(1)</script>"
    ref = tmp_path / "ref<b>"
    shutil.copytree(small_reference / "ref", ref)
    table = pq.read_table(ref / "weights.parquet")
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    meta["platform"] = meta["created"] = evil
    meta["versions"]["goldstar"] = evil
    meta["problem"]["problem_hash"] = evil
    # (the recorded source stays: the page's checks rebuild the problem from it, as verify does)
    for stage in meta["solver_chain"]:
        stage["method"] = stage["status"] = stage["message"] = evil
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), ref / "weights.parquet")
    targets = pq.read_table(ref / "targets.parquet")
    names = [evil + name for name in targets.column("name").to_pylist()]
    pq.write_table(targets.set_column(0, "name", pa.array(names, pa.string())), ref / "targets.parquet")

    out = tmp_path / "report.html"
    assert main(["report", "--reference", str(ref), "--out", str(out)]) == 0
    page = out.read_text()
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "ref&lt;b&gt;" in page


def test_report_escapes_even_fields_the_reader_types(small_reference, monkeypatch):
    """The renderer escapes by itself, not only because read_reference checks the metadata's types."""
    import goldstar.present.report as report

    evil = "<script>x</script>"
    ref = read_reference(small_reference / "ref")
    ref.metadata["certificate"]["worst_record_id"] = evil
    ref.metadata["certificate"]["bound_worst_record_id"] = evil
    ref.metadata["problem"]["penalty"] = evil
    for stage in ref.metadata["solver_chain"]:
        stage["iterations"] = evil
    monkeypatch.setattr(report, "read_reference", lambda directory: ref)
    page = report.render(small_reference / "ref")
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;x&lt;/script&gt;") >= 4
