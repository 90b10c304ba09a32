"""The compact certified areas reference: the duals y of every area, not its weights.

At the band optimum an area's multipliers are a function of its dual y
(goldstar.problem.objectives.band, goldstar.certificate.band):

    x(y) = clip(1 - (C^T y) / 2, lower, upper),

so J = 77 numbers an area store the answer for 280,005 records (51 states:
~32 KB, against ~100 MB of multipliers). `reference/areas/`:

    duals.parquet   area, target, y (float64; null for a dropped target); metadata
                    under b"goldstar-areas": per area its status, input hash, settings,
                    dropped targets, pop_share, and the fingerprint of its weights
                    (n, positive weights, total, sdev, max), and `rho_cap` for an area
                    certified with the band objective's raised cap (goldstar.areas.problem),
                    plus the national hashes
    MANIFEST.json   a sorted summary for readable diffs: the area set, the count, the
                    statuses, and per area its status, number of dropped targets and total

The directory is written whole or not at all (goldstar.store.atomic.atomic_directory),
as the areas-reference kind of goldstar.store.outputs.

Verify rebuilds each area's Problem from the inputs (input hash checked),
recomputes x(y), certifies it (goldstar.certify with the stored y: fixed
point, duality gap, kept bands), and compares the weight fingerprint with
the recorded one at rtol 1e-9. MANIFEST.json is checked against the duals
and the recomputed weights: the same areas, count, statuses, dropped counts
and totals. Before any of that, the national reference the areas were made
from must be the one verify finds (`national_mismatch`): every area's input
hash covers the national weights by value, so another national reference
fails every area, and is said once instead.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..certificate import certify
from ..exceptions import InputError
from ..store.outputs import AREAS_KEY, AREAS_REFERENCE, DUALS, MANIFEST, WEIGHTS, output_directory, prepare_output
from ..problem.objectives.band import RHO_CAP, RHO_CAP_MAX
from .problem import build_area_problem
from .penalties import RULES as PENALTY_RULES, SETTINGS_BEFORE_RULES

KEY = AREAS_KEY
OPTION = "--write-reference"
REGENERATE = "make goldstar"  # rewrites reference/band, then reference/areas from it (Makefile)
FINGERPRINT_FIELDS = ("n", "positive", "total", "sdev", "max")
# Recomputed against recorded fingerprint figures (and MANIFEST.json's totals). Verify recomputes
# the weights from the stored y by the formula that made them, so on another machine only the
# order of floating-point sums can change (the sparse product C^T y, numpy's reductions). A sum of
# n positive terms, reordered, moves by at most (n - 1) eps relative: 6e-11 for n = 280,005; each
# x_i moves by rounding of C^T y's few terms, of the same order against multipliers in [0, upper].
# 1e-9 leaves more than an order of magnitude of margin over that, and is the reproducibility bar
# of the areas: an edit beyond the ninth significant digit of a total fails. Counts (n, positive)
# are then held exactly (below 1e9).
FINGERPRINT_RTOL = 1e-9


def fingerprint(weight: np.ndarray) -> dict[str, float]:
    return {"n": int(weight.size), "positive": int(np.sum(weight > 0)), "total": float(weight.sum()),
            "sdev": float(weight.std()), "max": float(weight.max())}


def check_reference_output(directory: Path, *, force: bool) -> None:
    """Raise InputError, naming --write-reference, unless an areas reference may be written at
    `directory`: absent or empty, or an areas reference and `force` (goldstar.store.outputs' rules)."""
    prepare_output(directory, AREAS_REFERENCE, replace=force, option=OPTION)


def manifest_of(area_set: str, meta: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """MANIFEST.json's content, from the per-area metadata of duals.parquet."""
    return {"areas": area_set, "count": len(meta),
            "status": {k: sum(m["status"] == k for m in meta.values())
                       for k in sorted({m["status"] for m in meta.values()})},
            "by_area": {a: {"status": m["status"], "dropped": len(m["dropped"]), "total": m["fingerprint"]["total"]}
                        for a, m in sorted(meta.items())}}


# The command line's area settings that every area's input hash covers (goldstar.areas.command):
# a reference records them, and its verify rebuilds the areas with them.
SETTING_OPTIONS = {"eps": float, "slack_penalty": float, "slack_units": str, "slack_penalty_rule": str,
                   "unreachable": str, "upper": (float, type(None)), "time_limit": (float, type(None))}


def command_settings(args: Any) -> dict[str, Any]:
    """SETTING_OPTIONS as the command line (goldstar.areas.command's arguments) gives them."""
    return {name: getattr(args, name) for name in SETTING_OPTIONS}


def write_reference(directory: Path, rows: list[dict[str, Any]], cell_names, national_hashes: dict,
                    weights: dict[str, np.ndarray], area_set: str, *, force: bool = False,
                    joint: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> None:
    """Write the reference of `rows` (each with its y) as one atomic directory swap; weights[area]
    for the fingerprints. An existing areas reference is replaced only with `force`. `joint`: the
    rows' y are a joint solve's (goldstar.areas.joint_run), described in the metadata under `joint`.
    `settings`: the command line's SETTING_OPTIONS the batch ran with."""
    areas, targets, ys, meta = [], [], [], {}
    for row in rows:
        y = row.get("y")
        if y is None:
            continue
        areas += [row["area"]] * len(cell_names)
        targets += list(cell_names)
        ys += [y[name] for name in cell_names]  # the row names each dual by its target
        meta[row["area"]] = {
            "status": row["status"], "input_hash": row["input_hash"], "kind": row["kind"],
            "synthetic": row["synthetic"], "pop_share": row["pop_share"], "eps": row["eps"], "upper": row["upper"],
            "dropped": [d["name"] for d in row.get("dropped", [])], "certified": row.get("certified"),
            "fingerprint": fingerprint(weights[row["area"]]),
            **({"rho_cap": row["rho_cap"]} if row.get("rho_cap") not in (None, RHO_CAP) else {}),
        }
    table = pa.table({"area": pa.array(areas, pa.string()), "target": pa.array(targets, pa.string()),
                      "y": pa.array(ys, pa.float64())})
    info = {"areas": area_set, "national": national_hashes, "by_area": meta, **({"joint": joint} if joint else {}),
            **({"settings": {k: settings[k] for k in SETTING_OPTIONS}} if settings is not None else {})}
    table = table.replace_schema_metadata({KEY: json.dumps(info, sort_keys=True, default=str).encode()})
    manifest = json.dumps(manifest_of(area_set, meta), indent=1, sort_keys=True) + "\n"
    with output_directory(directory, AREAS_REFERENCE, replace=force, option=OPTION) as tmp:
        pq.write_table(table, tmp / DUALS, compression="zstd")
        (tmp / MANIFEST).write_text(manifest, encoding="utf-8")


# -- reading ---------------------------------------------------------------------------

def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_info(path: Path, info: Any) -> None:
    """Raise InputError naming the field when the metadata is not what write_reference writes."""
    def bad(field: str, what: str) -> InputError:
        return InputError(f"{path}: metadata {KEY.decode()!r}: `{field}` {what}")

    if not isinstance(info, dict):
        raise InputError(f"{path}: metadata {KEY.decode()!r} is not a JSON object")
    if not isinstance(info.get("areas"), str):
        raise bad("areas", "must be the area set (a string)")
    if not isinstance(info.get("national"), dict):
        raise bad("national", "must be an object (the national hashes)")
    joint = info.get("joint")
    if joint is not None and not (isinstance(joint, dict) and isinstance(joint.get("coupling"), str)
                                  and (joint.get("max_exhaustion") is None or _number(joint["max_exhaustion"]))):
        raise bad("joint", f"must be an object with the coupling's name and its cap (or null), found {joint!r}")
    by_area = info.get("by_area")
    if not isinstance(by_area, dict):
        raise bad("by_area", "must be an object, one entry an area")
    for area, meta in by_area.items():
        where = f"by_area.{area}"
        if not isinstance(meta, dict):
            raise bad(where, "must be an object")
        for name in ("status", "input_hash"):
            if not isinstance(meta.get(name), str):
                raise bad(f"{where}.{name}", f"must be a string, found {meta.get(name)!r}")
        dropped = meta.get("dropped")
        if not isinstance(dropped, list) or not all(isinstance(d, str) for d in dropped) \
                or len(set(dropped)) != len(dropped):
            raise bad(f"{where}.dropped", f"must be a list of distinct target names, found {dropped!r}")
        if "rho_cap" in meta and meta["rho_cap"] not in (RHO_CAP, RHO_CAP_MAX):
            raise bad(f"{where}.rho_cap", f"must be {RHO_CAP:g} or {RHO_CAP_MAX:g}, found {meta['rho_cap']!r}")
        fp = meta.get("fingerprint")
        if not isinstance(fp, dict) or set(fp) != set(FINGERPRINT_FIELDS) or not all(_number(v) for v in fp.values()):
            raise bad(f"{where}.fingerprint", f"must hold the numbers {', '.join(FINGERPRINT_FIELDS)}, found {fp!r}")


def _read_duals(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, Any]]:
    """y and target names by area (in the file's order), and the metadata; InputError naming the file."""
    path = Path(directory) / DUALS
    if not path.is_file():
        if not Path(directory).is_dir():
            raise InputError(f"areas reference {directory}: not found (no such directory)")
        if (Path(directory) / WEIGHTS).is_file():
            raise InputError(f"areas reference {directory}: no {DUALS}; it holds {WEIGHTS}, as a national "
                             f"reference does: verify that with `goldstar verify --reference {directory}`")
        raise InputError(f"areas reference {directory}: no {DUALS}")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None
    raw = (table.schema.metadata or {}).get(KEY)
    if raw is None:
        raise InputError(f"{path}: no {KEY.decode()!r} metadata; not a goldstar areas reference")
    try:
        info = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: metadata {KEY.decode()!r} is not valid JSON ({exc})") from None
    _check_info(path, info)
    expected = {"area": (pa.string(), pa.large_string()), "target": (pa.string(), pa.large_string()),
                "y": (pa.float64(),)}
    for name, types in expected.items():
        if name not in table.column_names:
            raise InputError(f"{path}: no column {name!r}")
        if table.schema.field(name).type not in types:
            raise InputError(f"{path}: column {name!r} is {table.schema.field(name).type}, not {types[0]}")
    for name in ("area", "target"):
        if table.column(name).null_count:
            raise InputError(f"{path}: column {name!r} has {table.column(name).null_count} missing value(s)")
    area = table.column("area").to_pylist()
    target = table.column("target").to_pylist()
    y = table.column("y").to_numpy(zero_copy_only=False).astype(np.float64)  # null -> NaN
    rows: dict[str, list[int]] = {}
    for i, a in enumerate(area):
        rows.setdefault(a, []).append(i)
    ys = {a: y[idx] for a, idx in rows.items()}
    targets = {a: [target[i] for i in idx] for a, idx in rows.items()}
    return ys, targets, info


def read_reference(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """y by area (NaN for a dropped target) and the metadata; InputError (naming duals.parquet)
    when the file is missing, unreadable, or its columns or metadata are malformed."""
    ys, _, info = read_reference_targets(directory)
    return ys, info


def read_reference_targets(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, Any]]:
    """read_reference with each area's target names too (in the file's order)."""
    return _read_duals(directory)


def recorded_settings(directory: Path, info: dict[str, Any]) -> dict[str, Any]:
    """The command line's settings the reference was made with ({} for a reference that records
    none: it was made with the defaults); InputError naming the field when malformed."""
    if "settings" not in info:
        return {}
    settings = info["settings"]
    if isinstance(settings, dict):
        settings = {**SETTINGS_BEFORE_RULES, **settings}
    if not isinstance(settings, dict) or set(settings) != set(SETTING_OPTIONS):
        raise InputError(f"{Path(directory) / DUALS}: metadata `settings` must name {', '.join(SETTING_OPTIONS)}")
    if not isinstance(settings["slack_penalty_rule"], str) or settings["slack_penalty_rule"] not in PENALTY_RULES:
        raise InputError(f"{Path(directory) / DUALS}: metadata `settings.slack_penalty_rule` "
                         f"{settings['slack_penalty_rule']!r} is not one of {', '.join(PENALTY_RULES)}")
    for name, kind in SETTING_OPTIONS.items():
        value = settings[name]
        if isinstance(value, int) and not isinstance(value, bool) and float in (kind if isinstance(kind, tuple) else (kind,)):
            value = settings[name] = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(f"{Path(directory) / DUALS}: metadata `settings.{name}` is malformed ({value!r})")
    return settings


def read_manifest(directory: Path) -> tuple[dict[str, Any] | None, str]:
    """MANIFEST.json, or None and why not (a missing or broken manifest fails verify, exit 1)."""
    path = Path(directory) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path}: missing"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path}: cannot be read as JSON ({exc})"
    if not isinstance(data, dict):
        return None, f"{path}: not a JSON object"
    return data, ""


# -- the national reference the areas were made from -----------------------------------

def _national_identity(hashes: Any, by_value: bool) -> tuple[str, str] | None:
    """(where, hash) of the national weights: the national reference's by-value weights hash
    (`national_reference`), or with by_value False the weights file's hash (`national_weights`)."""
    if not isinstance(hashes, dict):
        return None
    key, where, what = (("national_reference", "directory", "weights_hash") if by_value
                        else ("national_weights", "file", "hash"))
    entry = hashes.get(key)
    if isinstance(entry, dict) and isinstance(entry.get(what), str):
        return str(entry.get(where)), entry[what]
    return None


def national_mismatch(recorded: dict[str, Any], found: dict[str, Any], reference: str = "DIR",
                      given: str | None = None, advice: str | None = None) -> str | None:
    """A sentence naming both national references when the areas reference (at `reference`)
    was made from another national reference than the one found now; None when they agree (or
    cannot be told). `given`: the option that gave the one found now (`--reference`,
    `--national-weights`; None for the default). The sentence ends with `advice`, by default the
    command that verifies against the recorded weights (_point_at_recorded) and `make goldstar`
    for a change made on purpose.

    The same national content (records and weights by value, goldstar.areas.inputs.NationalData.
    content_hash) is no mismatch, however the weights were given (a goldstar reference, a file,
    values). Otherwise compared by the national reference's by-value weights hash when both sides
    record it, else by the hash of the weights file."""
    content = recorded.get("content") if isinstance(recorded, dict) else None
    if isinstance(content, str) and isinstance(found, dict) and content == found.get("content"):
        return None
    for by_value in (True, False):
        before, now = _national_identity(recorded, by_value), _national_identity(found, by_value)
        if before is not None and now is not None:
            if before[1] == now[1]:
                return None
            what = "weights hash" if by_value else "weights file hash"
            here = "the national reference here is" if given is None else f"{given} gives"
            if advice is None:
                advice = (f"{_point_at_recorded(recorded, reference)}, or, if the national weights changed on "
                          f"purpose, regenerate both with `{REGENERATE}`")
            return (f"the areas reference was made from the national reference {before[0]} ({what} "
                    f"{before[1]}), but {here} {now[0]} ({what} {now[1]}); every area's input hash covers "
                    f"the national weights: {advice}")
    return None


def recorded_national_option(recorded: dict[str, Any]) -> str | None:
    """The option and path that give the national weights an areas reference records
    (`--reference DIR` or `--national-weights FILE`, the path as recorded), or None where they were
    given as values (through the Python API)."""
    made = recorded.get("national_reference") or recorded.get("national_weights") or {}
    kind = made.get("kind") if isinstance(made, dict) else None
    if kind == "reference":
        return f"--reference {made.get('directory')}"
    if kind == "file":
        return f"--national-weights {made.get('file')}"
    return None


def _point_at_recorded(recorded: dict[str, Any], reference: str) -> str:
    """How to verify against the national weights an areas reference records: the option of the
    kind they were given as (recorded_national_option), or, given as values through the Python
    API, the same values again."""
    option = recorded_national_option(recorded)
    if option is None:
        return "verify with the weights it was made from (given as values: reweight_areas with the same weights)"
    return (f"verify against the weights it was made from with `goldstar areas --verify {reference} {option}` "
            "(that path as the reference records it, from the directory it was made in)")


# -- verify ------------------------------------------------------------------------------

def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def _manifest_area(entry: Any, meta: dict[str, Any], total: float | None) -> list[str]:
    """What MANIFEST.json's entry of one area gets wrong, against duals.parquet and the recomputed total."""
    if not isinstance(entry, dict):
        return [f"{MANIFEST}: its entry is not an object"]
    problems = []
    if entry.get("status") != meta["status"]:
        problems.append(f"{MANIFEST}: status {entry.get('status')!r}, the duals record {meta['status']!r}")
    dropped = entry.get("dropped")
    if not (isinstance(dropped, int) and not isinstance(dropped, bool)) or dropped != len(meta["dropped"]):
        problems.append(f"{MANIFEST}: dropped {dropped!r}, the duals record {len(meta['dropped'])}")
    recorded = meta["fingerprint"]["total"]
    value = entry.get("total")
    against = [("recorded", recorded)] + ([] if total is None else [("recomputed", total)])
    if not _number(value):
        problems.append(f"{MANIFEST}: total {value!r} is not a number")
    else:
        for name, other in against:
            if relative_difference(value, other) > FINGERPRINT_RTOL:
                problems.append(f"{MANIFEST}: total {value!r}, the {name} total {other!r} "
                                f"(rtol {FINGERPRINT_RTOL:g})")
    return problems


def _manifest_whole(manifest: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """What MANIFEST.json's fields about the whole reference get wrong, against duals.parquet."""
    by_area = info["by_area"]
    expected = manifest_of(info["areas"], by_area)
    problems = []
    for field in ("areas", "count", "status"):
        if field not in manifest:
            problems.append(f"{MANIFEST}: no field `{field}`")
        elif manifest[field] != expected[field]:
            problems.append(f"{MANIFEST}: `{field}` is {manifest[field]!r}, the duals give {expected[field]!r}")
    if not isinstance(manifest.get("by_area"), dict):
        problems.append(f"{MANIFEST}: `by_area` is not an object, one entry an area")
    return problems


def area_duals_problem(name: str, input_hash: str, ys: dict[str, np.ndarray], targets: dict[str, list[str]],
                       by_area: dict[str, Any], cell_names: list[str]) -> str | None:
    """What makes an area's rows of duals.parquet (read_reference_targets) unusable for the area
    as it is built here, in words; None when they are its own: metadata and rows present, the same
    input hash, the targets in the national order, null exactly at the recorded dropped targets."""
    meta = by_area.get(name)
    if meta is None:
        return "not in the reference" + (" (it has rows in the duals but no metadata)" if name in ys else "")
    if name not in ys:
        return f"in the metadata of {DUALS} but it has no rows there"
    if meta["input_hash"] != input_hash:
        return f"input hash {input_hash} differs from the recorded {meta['input_hash']}"
    if targets[name] != cell_names:
        return f"its rows in {DUALS} are not the {len(cell_names)} targets in the national order"
    unknown = sorted(set(meta["dropped"]) - set(cell_names))
    null_at = {cell_names[j] for j in np.flatnonzero(~np.isfinite(ys[name]))}
    if unknown or null_at != set(meta["dropped"]):
        return f"dropped targets {sorted(meta['dropped'])} are not where y is null ({sorted(null_at)})"
    return None


def verify_reference(directory: Path, national, areas, settings, hashes,
                     multipliers: dict[str, np.ndarray] | None = None, *,
                     complete: bool = True) -> list[tuple[str, bool, str]]:
    """(name, passed, what) for every area asked for, every other area of the reference, and
    MANIFEST.json last; the caller rebuilt areas and hashes. `complete`: the areas asked for are the
    reference's whole set, so an area of the reference not among them fails too.
    `multipliers`, when given, receives each rebuilt area's x(y) over all national records."""

    ys, targets, info = _read_duals(directory)
    by_area = info["by_area"]
    manifest, _ = read_manifest(directory)
    listed = manifest.get("by_area") if manifest is not None else None
    listed = listed if isinstance(listed, dict) else {}
    out: list[tuple[str, bool, str]] = []
    cell_names = list(national.cell_names)
    asked = {spec.name for spec in areas}
    for spec, s, h in zip(areas, settings, hashes):
        problem_with = area_duals_problem(spec.name, h, ys, targets, by_area, cell_names)
        if problem_with is not None:
            out.append((spec.name, False, problem_with))
            continue
        meta, y = by_area[spec.name], ys[spec.name]
        problem, keep = build_area_problem(national, spec, s, meta["dropped"], meta.get("rho_cap", RHO_CAP))
        form = problem.form
        x = np.clip(1.0 - (form.CT @ y[form.kept]) / 2.0, problem.lower, problem.upper)
        cert = certify(problem, x, y)
        w = np.zeros(national.n)
        w[keep] = problem.w0 * x
        if multipliers is not None:
            multipliers[spec.name] = np.zeros(national.n)
            multipliers[spec.name][keep] = x
        fp, rec = fingerprint(w), meta["fingerprint"]
        worst = max(relative_difference(fp[k], rec[k]) for k in FINGERPRINT_FIELDS)
        problems = (_manifest_area(listed[spec.name], meta, fp["total"]) if spec.name in listed
                    else [] if manifest is None else [f"not in {MANIFEST}"])
        ok = cert.passed and worst <= FINGERPRINT_RTOL and not problems
        what = (f"certificate {'passed' if cert.passed else 'FAILED: ' + '; '.join(cert.failures())}; "
                f"fingerprint within {worst:.2g} (rtol {FINGERPRINT_RTOL:g}); recorded status {meta['status']}"
                + "".join(f"; {p}" for p in problems))
        out.append((spec.name, ok, what))
    # names the reference holds that were not verified above
    where = {DUALS + " rows": set(ys), DUALS + " metadata": set(by_area), MANIFEST: set(listed)}
    extra = sorted(set().union(*where.values()) - asked)
    for name in extra:
        found = ", ".join(k for k, v in where.items() if name in v)
        if complete:
            out.append((name, False, f"in {found}, but not an area of the set {info['areas']!r}"))
        elif not all(name in v for k, v in where.items() if k != MANIFEST or manifest is not None):
            out.append((name, False, f"only in {found}"))
    out.append(manifest_check(directory, info))
    return out


def manifest_check(directory: Path, info: dict[str, Any]) -> tuple[str, bool, str]:
    """(MANIFEST.json, passed, what): the file against duals.parquet's areas, count and statuses."""
    manifest, why = read_manifest(directory)
    if manifest is None:
        return MANIFEST, False, why
    problems = _manifest_whole(manifest, info)
    return MANIFEST, not problems, "; ".join(problems) or "areas, count and statuses agree with the duals"
