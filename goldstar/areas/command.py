"""`goldstar areas --areas SET [--out DIR]`: the batch of areas from the command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--areas", default=None,
                   help="states, districts (synthetic, 436), synthetic:N, or a list like AL,CA,NY")
    p.add_argument("--write-reference", type=Path, default=None, metavar="DIR",
                   help="after the batch, write the compact certified reference (duals) to DIR")
    p.add_argument("--verify", type=Path, default=None, metavar="DIR",
                   help="verify a compact areas reference (e.g. reference/areas) instead of running a batch")
    p.add_argument("--out", type=Path, default=Path("areas-output"), help="output directory (default areas-output)")
    p.add_argument("--scheduler", default=None, help="address of an existing dask.distributed scheduler")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one a core)")
    p.add_argument("--time-limit", type=float, default=None, help="seconds an area may take (default: none)")
    p.add_argument("--unreachable", choices=("drop", "error"), default="drop",
                   help="drop: drop targets an area cannot meet, by name; error: report it infeasible")
    p.add_argument("--eps", type=float, default=0.005, help="band half-width, relative (default 0.005)")
    p.add_argument("--slack-penalty", type=float, default=1e6, help="M (default 1e6)")
    p.add_argument("--slack-units", choices=("target", "relative"), default="target",
                   help="slack in target units (TMD, default) or relative")
    p.add_argument("--upper", type=float, default=None,
                   help="multiplier cap for every area (default 25 for states, 50 for districts and synthetic)")
    p.add_argument("--overrides", type=Path, default=None,
                   help="per-area overrides CSV (default goldstar/areas/data/overrides.csv)")
    p.add_argument("--reference", type=Path, default=None,
                   help="national reference directory (default reference/band, else reference/default)")
    p.add_argument("--records", type=Path, default=None, help="national record table (default: embedded CPS)")
    p.add_argument("--soi", type=Path, default=None, help="SOI state table (default: the vendored 2022 table)")
    p.add_argument("--recipe", type=Path, default=None, help="recipe CSV (default goldstar/areas/data/recipe.csv)")
    p.add_argument("--seed", type=int, default=None, help="seed of the synthetic splits (default 20260101)")
    p.add_argument("--tmd-year", type=int, default=2015,
                   help="year of the WT<year> column of the TMD-layout files (default 2015, the national year)")
    p.add_argument("--no-tmd-weights", action="store_true", help="skip the TMD-layout weights files")
    p.add_argument("--rerun-all", action="store_true", help="solve every area, even those already done")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..exceptions import InputError
    from . import batch
    from .batch import client_versions
    from .output import prepare_out, write_batch_record, write_records
    from .problem import AreaSettings
    from .targets import parse_area_set

    if args.verify is not None:
        return verify(args)
    if args.areas is None:
        raise InputError("give `--areas` (states, districts, synthetic:N or a list like AL,CA,NY), or `--verify DIR`")
    parse_area_set(args.areas)  # bad input first, before any work
    if args.time_limit is not None and not args.time_limit > 0:
        raise InputError(f"`--time-limit` must be > 0, got {args.time_limit}")
    if args.upper is not None and not args.upper > 0:
        raise InputError(f"`--upper` must be > 0, got {args.upper}")
    if not args.eps >= 0:
        raise InputError(f"`--eps` must be >= 0, got {args.eps}")
    batch.check_solver(AreaSettings.solver)  # SolverNotFound (exit 2) before any work, not 51 failed rows
    start = time.perf_counter()
    national, areas, settings, hashes, seed = batch_inputs(args, args.areas)
    prepare_out(args.out, {
        "areas": args.areas, "seed": seed, "synthetic": any(a.synthetic for a in areas),
        "national": national.hashes, "versions": client_versions(), "count": len(areas),
        "dropped_cells": list(national.dropped_cells),
    })
    write_records(args.out, national.record_ids, national.weight)
    setup = time.perf_counter() - start
    client = batch.make_client(args.scheduler, args.workers)
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        print(f"areas        {len(areas)} ({args.areas}{'; SYNTHETIC' if any(a.synthetic for a in areas) else ''}) "
              f"on {workers} worker(s); set-up {setup:.1f} s", file=sys.stderr)
        t0 = time.perf_counter()
        rows = batch.run_batch(client, national, areas, settings, hashes, args.out,
                         tmd_year=None if args.no_tmd_weights else args.tmd_year,
                         skip_done=not args.rerun_all, progress=not args.quiet)
        wall = time.perf_counter() - t0
    finally:
        client.close()
    status = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    skipped = sum(bool(r.get("skipped")) for r in rows)
    with_drops = sum(bool(r.get("dropped")) for r in rows)
    rss = [r.get("rss_peak_mb") for r in rows if r.get("rss_peak_mb") and not r.get("skipped")]
    secs = [r.get("seconds") for r in rows if r.get("seconds") and not r.get("skipped")]
    print(f"status       " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())) + f" (skipped, already done: {skipped})")
    print(f"drops        {with_drops} area(s) with dropped targets")
    if secs:
        print(f"area seconds median {np.median(secs):.2f}, max {max(secs):.2f}; batch wall {wall:.1f} s")
    if rss:
        print(f"memory       peak RSS of a worker {max(rss):.0f} MB")
    write_batch_record(args.out, {
        "areas": args.areas, "workers": workers, "scheduler": args.scheduler or "local",
        "cores": os.cpu_count(), "setup_seconds": setup, "wall_seconds": wall, "solved": len(rows) - skipped,
        "skipped": skipped, "status": status, "tmd_weights": not args.no_tmd_weights,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    print(f"wrote        {args.out}/summary.csv")
    if args.write_reference is not None:
        from .output import read_m
        from .reference import write_reference

        weights = {r["area"]: r["pop_share"] * national.weight * read_m(args.out, r["area"])
                   for r in rows if r.get("y") is not None}
        write_reference(args.write_reference, rows, national.cell_names, national.hashes, weights, args.areas)
        print(f"reference    {args.write_reference} ({len(weights)} areas)")
    bad = [r for r in rows if r["status"] != "ok"]
    for r in bad[:10]:
        print(f"ERROR: area {r['area']}: {r['status']}: {r.get('message', '')}", file=sys.stderr)
    return EXIT_FAILED if bad else EXIT_OK


def batch_inputs(args: argparse.Namespace, area_set: str) -> tuple[Any, list, list, list[str], int]:
    """What a batch and its verify both start from: the national data (with the SOI table's hash),
    the areas, each one's settings and input hash, and the seed."""
    from ..hashing import file_entry
    from .inputs import DEFAULT_SOI_STATES, load_national, read_soi_states
    from .problem import AreaSettings, area_input_hash, read_overrides, settings_for
    from .recipe import DEFAULT_RECIPE, read_recipe
    from .targets import DEFAULT_SEED, make_areas

    recipe = args.recipe or DEFAULT_RECIPE
    national = load_national(args.reference, args.records, recipe)
    soi_path = args.soi or DEFAULT_SOI_STATES
    soi = read_soi_states(soi_path, tuple(read_recipe(recipe)["soi_column"]))
    national.hashes["soi"] = {**file_entry(soi_path), "file": str(soi_path)}
    national.hashes["content"] = national.content_hash()
    seed = DEFAULT_SEED if args.seed is None else args.seed
    areas = make_areas(area_set, soi, national, seed)
    overrides = read_overrides(args.overrides) if args.overrides else read_overrides()
    base = AreaSettings(eps=args.eps, slack_penalty=args.slack_penalty, slack_units=args.slack_units,
                        unreachable=args.unreachable, time_limit=args.time_limit)
    settings = [settings_for(a, base, overrides, args.upper) for a in areas]
    national_hash = national.hashes["content"] + "|" + national.hashes["soi"]["hash"]
    hashes = [area_input_hash(national_hash, a, s, national.cell_names) for a, s in zip(areas, settings)]
    return national, areas, settings, hashes, seed


# --mode recompute: a re-solved multiplier agrees with the reference's when
# |x - x_ref| <= RECOMPUTE_RTOL * max(|x_ref|, 1). Multipliers start at 1 and an area's box
# starts at 0, so a multiplier at 0 is held to the same 1e-9 (of its starting value) as one
# near 1, where a relative test alone would compare rounding noise with 0.
RECOMPUTE_RTOL = 1e-9


def verify(args: argparse.Namespace, modes: tuple[str, ...] = ("hash", "certificate")) -> int:
    """Verify a compact areas reference: rebuild each area from the inputs (hashes), rebuild its
    weights from the stored dual and certify them (certificate); with `recompute`, also re-solve
    every area through Dask and compare the multipliers record by record."""
    import tempfile

    import numpy as np

    from .reference import MANIFEST, national_mismatch, read_reference, verify_reference

    start = time.perf_counter()
    reference = args.verify
    _, info = read_reference(reference)
    area_set = args.areas or info["areas"]
    national, areas, settings, hashes, _ = batch_inputs(args, area_set)
    mismatch = national_mismatch(info["national"], national.hashes)
    if mismatch is not None:  # every area's input hash would fail: say why once
        print(f"ERROR: {reference}: {mismatch}", file=sys.stderr)
        return EXIT_FAILED
    rebuilt: dict[str, Any] | None = {} if "recompute" in modes else None  # only a recompute compares them
    results = verify_reference(reference, national, areas, settings, hashes, rebuilt,
                               complete=area_set == info["areas"])
    if "recompute" in modes:
        from . import batch
        from .output import prepare_out, read_m

        ok_areas = {a for a, ok, _ in results if ok}
        todo = [(a, s, h) for a, s, h in zip(areas, settings, hashes) if a.name in ok_areas]
        with tempfile.TemporaryDirectory(prefix="goldstar-areas-recompute-") as tmp:
            prepare_out(Path(tmp), {"areas": area_set, "purpose": "verify --mode recompute"})
            client = batch.make_client(args.scheduler, args.workers)
            try:
                rows = batch.run_batch(client, national, [t[0] for t in todo], [t[1] for t in todo],
                                       [t[2] for t in todo], Path(tmp), tmd_year=None, skip_done=False,
                                       progress=not args.quiet)
            finally:
                client.close()
            recomputed = {r["area"]: (r, read_m(Path(tmp), r["area"]) if r["status"] == "ok" else None) for r in rows}
        checked = []
        for area, ok, what in results:
            if area in recomputed:
                row, m = recomputed[area]
                if m is None:
                    ok, what = False, what + f"; recompute {row['status']}: {row.get('message', '')}"
                else:
                    x = rebuilt[area]
                    diff = float(np.max(np.abs(m - x) / np.maximum(np.abs(x), 1.0)))
                    ok = ok and diff <= RECOMPUTE_RTOL
                    what += f"; recompute within {diff:.2g} (rtol {RECOMPUTE_RTOL:g} of max(|x|, 1))"
            checked.append((area, ok, what))
        results = checked
    for area, ok, what in results:
        print(f"{area:10s} {'ok  ' if ok else 'FAIL'} {what}")
    failed = [a for a, ok, _ in results if not ok]
    checked = [a for a, _, _ in results if a != MANIFEST]
    bad_areas = [a for a in failed if a != MANIFEST]
    print(f"verified     {len(checked) - len(bad_areas)} of {len(checked)} areas"
          f"{'' if MANIFEST in failed else ' and ' + MANIFEST} in {time.perf_counter() - start:.1f} s"
          f" ({', '.join(modes)})")
    if failed:
        print(f"ERROR: {reference}: {len(failed)} failed verification: {', '.join(failed[:10])}"
              + (" ..." if len(failed) > 10 else ""), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def verify_directory(directory: Path, modes: tuple[str, ...]) -> int:
    """`goldstar verify --areas DIR [--mode ...]`: verify with every other setting at its default
    (the national inputs the reference records are checked by their hashes)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return verify(parser.parse_args(["--verify", str(directory), "--quiet"]), modes)

