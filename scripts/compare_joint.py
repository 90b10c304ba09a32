"""How far apart two solves of the same areas are: the largest difference of their multipliers,
area by area, relative to max(|m|, 1) (the scale of goldstar's verify rtol).

    python scripts/compare_joint.py bench-areas/within-NY bench-areas/within-NYPA/NY
    python scripts/compare_joint.py --separate OUT1 OUT2

Reads each directory's OUT/joint (goldstar areas --additive or --max-exhaustion E), or with
`--separate` the separate solves (OUT/m, the areas of OUT/summary.csv with status ok, each
checked against the hash its row records), and matches the records by record_id; prints one
line a pair and exits 2 when either has no such solves or their areas or records differ.
Nothing is solved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goldstar.areas.joint_run import read_joint  # noqa: E402
from goldstar.areas.report import area_multipliers, read_area_row, read_records, read_summary  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402


def joint_multipliers(out: Path) -> dict[str, np.ndarray]:
    found = read_joint(out)
    if found is None:
        raise InputError(f"{out}: no joint solve (OUT/joint)")
    return found[1]


BATCH = "batch"  # how the readers' errors name a directory given here


def separate_multipliers(out: Path) -> dict[str, np.ndarray]:
    summary = read_summary(out, option=BATCH)
    n = read_records(out, option=BATCH)[0].size
    solved = summary.loc[summary["status"] == "ok", "area"]
    if solved.empty:
        raise InputError(f"{BATCH} {out}: no area with status ok in its summary.csv")
    return {area: area_multipliers(out, area, read_area_row(out, area, option=BATCH), n, option=BATCH)
            for area in solved}


def same_records(first: Path, second: Path) -> np.ndarray:
    """Where each of `first`'s records (OUT/records.parquet, whose order every m file follows)
    is in `second`'s; InputError when the two hold other records."""
    ids1, ids2 = read_records(first, option=BATCH)[0], read_records(second, option=BATCH)[0]
    order1, order2 = np.argsort(ids1, kind="stable"), np.argsort(ids2, kind="stable")
    if ids1.size != ids2.size or not np.array_equal(ids1[order1], ids2[order2]):
        raise InputError(f"{first} and {second} hold other records ({ids1.size:,} and {ids2.size:,}, by record_id): "
                         "compare solves of the same records")
    position = np.empty_like(order1)
    position[order1] = order2
    return position


def difference(first: Path, second: Path, separate: bool = False) -> tuple[float, str]:
    """(the largest |m1 - m2| / max(|m2|, 1) over every area and record, matched by record_id, and
    the area where it is)."""
    read = separate_multipliers if separate else joint_multipliers
    m1, m2 = read(first), read(second)
    if sorted(m1) != sorted(m2):
        raise InputError(f"{first} and {second} hold other areas: {sorted(m1)[:5]} ... and {sorted(m2)[:5]} ...")
    at = same_records(first, second)
    m2 = {area: m[at] for area, m in m2.items()}
    worst = {area: float(np.max(np.abs(m1[area] - m2[area]) / np.maximum(np.abs(m2[area]), 1.0))) for area in m2}
    area = max(worst, key=worst.get)
    return worst[area], area


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--separate", action="store_true", help="compare the separate solves (OUT/m)")
    args = parser.parse_args(argv)
    try:
        worst, area = difference(args.first, args.second, args.separate)
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(f"{args.first} vs {args.second}: multipliers within {worst:.3g} of max(|m|, 1) (largest in {area})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
