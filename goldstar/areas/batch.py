"""The Dask batch: every area one task, the national data on each worker once.

- A LocalCluster of worker processes sized to the machine (one thread each:
  the solves are numpy/HiGHS, single-threaded by design here), or an existing
  dask.distributed scheduler (`--scheduler ADDRESS`).
- Before anything is sent, every worker's goldstar, numpy and scipy versions
  are compared with the client's: a mixed cluster is refused, naming the
  worker (results must reproduce to rtol 1e-9 whatever worker ran them).
- The national data are scattered once with broadcast (a future every task
  shares), not pickled into every task.
- Each task also makes its area's TMD weights file (compressed bytes) on the
  worker, so the client only writes what arrives: formatting and compressing
  20 years of 280K weights take ~1 s, as long as an area's solve, and on the
  client they would cap the batch at one area a second whatever the workers.
- Results stream back with as_completed and are written atomically as they
  arrive (goldstar.areas.output); a progress bar counts areas. A task that
  raises or whose worker dies is a `failed` row, never a crashed batch.
- A rerun skips areas already done (status ok) with matching input hashes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..defaults import VERSION
from ..exceptions import InputError
from .inputs import NationalData
from .output import TMD_BYTES, done_row, tmd_weights_csv_gz, write_area, write_summary
from .problem import AreaSettings, run_area
from .targets import AreaSpec
from ..solvers import get_solver

VERSIONED = ("goldstar", "numpy", "scipy")
SUMMARY_EVERY_SECONDS = 5.0


def local_versions() -> dict[str, str]:
    """The versions a batch must agree on, of this process."""
    import numpy
    import scipy

    return {"goldstar": VERSION, "numpy": numpy.__version__, "scipy": scipy.__version__}


def client_versions() -> dict[str, str]:
    return local_versions()


def worker_versions() -> dict[str, str]:
    """Run on each worker (client.run)."""
    return local_versions()


def check_versions(client: dict[str, str], workers: dict[str, dict[str, str]]) -> None:
    """InputError naming the first worker whose versions differ from the client's."""
    for address, versions in sorted(workers.items()):
        diffs = [f"{k} {versions.get(k)} (client {client.get(k)})" for k in VERSIONED
                 if versions.get(k) != client.get(k)]
        if diffs:
            raise InputError(
                f"worker {address} runs {', '.join(diffs)}: a mixed cluster could not reproduce the "
                "weights to rtol 1e-9; install the client's versions on every worker"
            )


def check_solver(name: str) -> None:
    """SolverNotFound (an InputError) when the per-area solver is not installed."""

    get_solver(name)


# A scheduler that does not answer within this is refused: the user learns it in seconds,
# before anything is written, not after a default 30 s wait.
CONNECT_SECONDS = 8


def make_client(scheduler: str | None = None, workers: int | None = None):
    """A dask.distributed Client: to `scheduler`, else to a new LocalCluster of processes.

    Dask's own log lines (worker start-up, nanny restarts) are kept below ERROR level for the
    user: what matters reaches them as goldstar's rows and messages."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("the areas batch needs dask.distributed: pip install 'goldstar[areas]'") from None
    if scheduler:
        if workers is not None:
            raise InputError("`--workers` sizes a local cluster; with `--scheduler` the cluster has its own workers")
        try:
            return Client(scheduler, timeout=f"{CONNECT_SECONDS}s")
        except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address ...
            raise InputError(f"--scheduler {scheduler}: cannot connect within {CONNECT_SECONDS} s "
                             f"({type(exc).__name__}: {exc})") from None
    import logging
    import os

    n = workers if workers is not None else max(1, os.cpu_count() or 1)
    if n < 1:
        raise InputError(f"`--workers` must be >= 1, got {n}")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           memory_limit=0, silence_logs=logging.CRITICAL)
    return Client(cluster)


def close_client(client) -> None:
    """Close a client of make_client's and the local cluster it made, if it made one (a Client
    given a cluster does not own it: closing the client alone leaves its worker processes
    running until the interpreter exits)."""
    cluster = getattr(client, "cluster", None)
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


AREA_FN = run_area  # what each task runs; tests put a stand-in here


def area_task(area_fn: Callable, national: NationalData, spec: AreaSpec, settings: AreaSettings, input_hash: str,
              tmd_years: Any = None) -> dict[str, Any]:
    """One area on a worker: `area_fn`'s row, with its TMD weights file's bytes when asked
    (`tmd_years`) and the area has multipliers, and the seconds they took (`seconds_weights_file`)."""
    row = area_fn(national, spec, settings, input_hash)
    if tmd_years is not None and row.get("m") is not None:
        start = time.perf_counter()
        row[TMD_BYTES] = tmd_weights_csv_gz(tmd_years, row["pop_share"] * national.weight * row["m"])
        row["seconds_weights_file"] = time.perf_counter() - start
    return row


def area_rows(client, national: NationalData, todo: Sequence[tuple[AreaSpec, AreaSettings, str]],
              area_fn: Callable | None = None, tmd_years: Any = None) -> Iterator[tuple[AreaSpec, dict[str, Any]]]:
    """Each (area, settings, input hash) of `todo` as a task on the client's cluster, the national
    data sent to every worker once; (area, row) as each finishes, with the area's TMD weights
    file's bytes when `tmd_years` is given. A task that dies is a failed row, never an exception."""
    from dask.distributed import as_completed

    if not todo:
        return
    area_fn = area_fn or AREA_FN
    national_future = client.scatter(national, broadcast=True, hash=False)
    futures = {}
    for spec, s, h in todo:
        f = client.submit(area_task, area_fn, national_future, spec, s, h, tmd_years,
                          key=f"area-{spec.name}-{h[-12:]}", pure=False)
        futures[f] = (spec, h)
    for future in as_completed(futures):
        spec, h = futures[future]
        try:
            row = future.result()
        except Exception as exc:  # the worker died, or the function raised
            row = {"area": spec.name, "kind": spec.kind, "synthetic": spec.synthetic, "state": spec.state,
                   "status": "failed", "message": f"task failed: {type(exc).__name__}: {exc}",
                   "dropped": [], "input_hash": h, "pop_share": spec.pop_share}
        future.release()
        yield spec, row
    del national_future


def run_batch(
    client, national: NationalData, areas: Sequence[AreaSpec], settings: Sequence[AreaSettings],
    hashes: Sequence[str], out: Path, *, area_fn: Callable | None = None, tmd_years: Any = None,
    skip_done: bool = True, progress: bool = True,
) -> list[dict[str, Any]]:
    """Solve `areas` on the client's cluster; write each as it finishes; return the rows."""
    from tqdm import tqdm

    check_versions(client_versions(), client.run(worker_versions))
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for spec, s, h in zip(areas, settings, hashes):
        row = done_row(out, spec.name, h) if skip_done else None
        if row is not None:
            row["skipped"] = True
            rows[spec.name] = row
        else:
            todo.append((spec, s, h))
    bar = tqdm(total=len(areas), initial=len(rows), unit="area", desc="areas", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    last_summary = time.monotonic()
    for spec, row in area_rows(client, national, todo, area_fn, tmd_years):
        rows[spec.name] = write_area(out, row)
        bar.update(1)
        bad = sum(r.get("status") != "ok" for r in rows.values())
        bar.set_postfix(not_ok=bad, refresh=False)
        if time.monotonic() - last_summary > SUMMARY_EVERY_SECONDS:
            write_summary(out, [rows[a.name] for a in areas if a.name in rows])
            last_summary = time.monotonic()
    bar.close()
    ordered = [rows[a.name] for a in areas]
    write_summary(out, ordered)
    return ordered
