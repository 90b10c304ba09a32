"""Small national data for the areas tests: seeded records in SOI names, and stand-ins."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from goldstar.areas.inputs import national_from_arrays
from goldstar.areas.recipe import read_recipe

STATUSES = np.array(["SINGLE", "JOINT", "SEPARATE", "HEAD_OF_HOUSEHOLD"])


def small_records(n: int = 3000, seed: int = 5) -> pd.DataFrame:
    """n records spread over every AGI stub and filing status, in goldstar.inputs.build's names."""
    rng = np.random.default_rng(seed)
    agi = np.exp(rng.uniform(np.log(500.0), np.log(3e6), n))
    agi[: n // 40] = -rng.uniform(0, 5e4, n // 40)  # stub 1: AGI below $1
    wages = np.where(rng.random(n) < 0.7, agi * rng.uniform(0.3, 0.9, n), 0.0).clip(0)
    def some(p, scale):
        return np.where(rng.random(n) < p, rng.exponential(scale, n), 0.0)
    business = some(0.2, 2e4) - some(0.05, 1e4)
    return pd.DataFrame({
        "record_id": np.arange(1, n + 1, dtype=np.int64),
        "weight": rng.uniform(3e4, 7e4, n),  # ~150M returns, like the nation
        "is_tax_filer": rng.random(n) < 0.9,
        "filing_status": STATUSES[rng.choice(4, n, p=[0.45, 0.35, 0.03, 0.17])],
        "count": np.ones(n),
        "adjusted_gross_income": agi,
        "employment_income": wages,
        "taxable_interest_income": some(0.4, 2e3),
        "ordinary_dividends": some(0.25, 5e3),
        "business_net_profits": np.maximum(business, 0.0),
        "business_net_losses": np.maximum(-business, 0.0),
        "e00900": business,  # Tax-Calculator's name, as the engines pass it through
        "taxable_pension_income": some(0.2, 2e4),
        "taxable_social_security": some(0.2, 1.5e4),
        "unemployment_compensation": some(0.05, 5e3),
        "ira_distributions": some(0.1, 1e4),
        "XTOT": rng.integers(1, 6, n),  # persons: TMD's population variable
    })


def small_national(n: int = 3000, seed: int = 5):
    records = small_records(n, seed)
    national = national_from_arrays(records, records["record_id"].to_numpy(), records["weight"].to_numpy(),
                                    read_recipe(), {"test": True})
    national.hashes["content"] = national.content_hash()
    return national


def standin_area(national, spec, settings, input_hash):
    """A stand-in for run_area: no solve; status from the area's name (for batch tests)."""
    row = {"area": spec.name, "kind": spec.kind, "synthetic": spec.synthetic, "state": spec.state,
           "status": "ok", "message": "stand-in", "targets": len(national.cells), "kept": len(national.cells),
           "dropped": [], "input_hash": input_hash, "pop_share": spec.pop_share, "seconds": 0.0,
           "rss_peak_mb": 1.0, "m": np.ones(national.n)}
    if spec.name == "NY":
        raise RuntimeError("stand-in failure for NY")
    if spec.name == "TX":
        row.update(status="infeasible", message="stand-in infeasible", m=None,
                   dropped=[{"name": "e00200/cnt=0/scope=1/agi=[1000000.0,9e+99)/fs=0", "reason": "range"}])
    CALLS.append(spec.name)
    return row


CALLS: list[str] = []


def standin_solve(problem, settings, time_left):
    """A stand-in for the band solver: the LP-free point x = 1 clipped, 'certified'."""
    m = np.clip(np.ones(problem.n), problem.lower, problem.upper)
    sol = SimpleNamespace(m=m, success=True, message="stand-in")
    cert = SimpleNamespace(passed=True, failures=lambda: [], as_dict=lambda: {"stand_in": True})
    return sol, cert


def use_standins(monkeypatch) -> None:
    """The areas CLI on a thread cluster with the stand-in task (worker processes cannot see a
    monkeypatch); CALLS starts empty."""
    from dask.distributed import Client, LocalCluster

    from goldstar.areas import batch

    def make_client(scheduler=None, workers=None):
        return Client(LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"))
    monkeypatch.setattr(batch, "make_client", make_client)
    monkeypatch.setattr(batch, "AREA_FN", standin_area)
    monkeypatch.setattr(batch, "check_solver", lambda name: None)
    CALLS.clear()


def write_small_files(directory):
    """small_records() as a records file and its own weights as a national weights file."""
    records = small_records()
    records.to_parquet(directory / "records.parquet")
    records[["record_id", "weight"]].to_parquet(directory / "weights.parquet")
    return directory


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """write_small_files in a directory of the module's (a fixture: import it into a test module)."""
    return write_small_files(tmp_path_factory.mktemp("national"))


@pytest.fixture
def in_process(monkeypatch):
    """The real area task, on a thread cluster in this process (a fixture, as small_files)."""
    from dask.distributed import Client, LocalCluster

    from goldstar.areas import batch

    monkeypatch.setattr(batch, "make_client", lambda scheduler=None, workers=None: Client(
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")))


def areas_cli(small_files, out, *extra) -> int:
    """`goldstar areas` on write_small_files' records and weights, quiet, into `out`."""
    from goldstar.cli import main

    return main(["areas", "--records", str(small_files / "records.parquet"), "--national-weights",
                 str(small_files / "weights.parquet"), "--out", str(out), "--quiet", *extra])


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts are not a package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script
