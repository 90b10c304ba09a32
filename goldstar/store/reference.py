"""The gold-star reference on disk: written atomically, read with its schema checked.

A reference is a directory (reference/default for the default problem):

    weights.parquet  record_id int64, w0, m, weight float64; Parquet key-value
                     metadata under b"goldstar": a JSON object holding the schema
                     version, the problem's source and hashes, the input file
                     hashes, the weights' own hash, the solver chain, the
                     certificate, versions, platform and time
    targets.parquet  name, target, fitted (weighted total), rel_error, dual (y)
    MANIFEST.json    a small sorted summary for readable pull-request diffs

The whole directory is replaced at once (goldstar.store.atomic.atomic_directory): an
interrupted write leaves the previous reference whole. The weights' hash is
taken of the decoded arrays (goldstar.hashing), never of the Parquet bytes,
which differ between writer versions and platforms.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import outputs
from .atomic import recover
from .outputs import MANIFEST, METADATA_KEY, WEIGHTS, output_directory
from ..exceptions import InputError, ReferenceFormatError
from ..hashing import arrays_hash
from ..params import is_integer, is_number
from ..problem.objectives.penalized import relative_error
from .tables import read_json_object, read_table_checked

SCHEMA_VERSION = 1
KNOWN_SCHEMA_VERSIONS = (1,)
TARGETS = "targets.parquet"
REQUIRED_METADATA = (
    "schema_version", "problem", "inputs", "weights_hash", "solver_chain", "certificate",
    "versions", "platform", "created",
)
# The type of every metadata field a reader of the reference uses (verify, report,
# the pipeline's replace check), by dotted path; "*" is every entry of an object
# or list; a trailing "?" marks a field that may be absent. bool is never a
# number here (Python's True == 1 would otherwise pass for schema version 1).
METADATA_TYPES = {
    "schema_version": "int", "problem": "object", "inputs": "object", "weights_hash": "str",
    "solver_chain": "list", "certificate": "object", "versions": "object", "platform": "str", "created": "str",
    "problem.problem_hash": "str", "problem.source": "object", "problem.n": "int", "problem.J": "int",
    "problem.nnz": "int", "problem.penalty?": "number",
    "problem.objective?": "object", "problem.objective?.name": "str", "problem.prepass?": "object", "problem.lower": "number", "problem.upper": "number",
    "inputs.*": "object", "inputs.*.hash": "str", "inputs.*.file": "str",
    "versions.*": "str",
    "solver_chain.*": "object", "solver_chain.*.method": "str", "solver_chain.*.status": "str",
    "solver_chain.*.loss": "number", "solver_chain.*.pg": "number", "solver_chain.*.iterations": "int",
    "solver_chain.*.seconds": "number", "solver_chain.*.history?": "list", "solver_chain.*.history?.*": "object",
    "solver_chain.*.history?.*.iteration": "int", "solver_chain.*.history?.*.loss": "number",
    "solver_chain.*.distance_from_optimum?": "object",
    "solver_chain.*.distance_from_optimum?.max_relative_weight_difference": "number",
    "solver_chain.*.distance_from_optimum?.loss_difference": "number",
    "certificate.passed": "bool", "certificate.fixed_point_error": "number", "certificate.gap": "number",
    "certificate.loss": "number", "certificate.pg": "number", "certificate.bound_violation": "number",
    "certificate.bound_max_relative?": "number", "certificate.bound_median_relative?": "number",
    "certificate.worst_record_id": "int", "certificate.bound_worst_record_id?": "int",
    "certificate.bound_l2?": "number", "certificate.max_band_violation?": "number",
    "certificate.thresholds?": "object", "certificate.thresholds?.*": "number",
}
_TYPE_CHECKS = {
    "int": is_integer,
    "number": is_number,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
}
_TYPE_NAMES = {"int": "an integer", "number": "a number", "str": "a string", "bool": "true or false",
               "object": "a JSON object", "list": "a JSON list"}


def check_types(data: Any, types: dict[str, str], where: str, error: type[Exception] = ReferenceFormatError) -> None:
    """Raise `error` naming the first field of `data` whose type is not the one `types` gives.

    `types` maps dotted paths to "int", "number", "str", "bool", "object" or
    "list" (see METADATA_TYPES); a path whose parent is of the wrong type is
    reported at the parent, which is checked first.
    """
    if not isinstance(data, dict):
        raise error(f"{where}: must be a JSON object, found {type(data).__name__}")
    for path, kind in types.items():
        for name, value in _walk(data, path.split(".")):
            if not _TYPE_CHECKS[kind](value):
                raise error(f"{where}: `{name}` must be {_TYPE_NAMES[kind]}, found {value!r:.80}")


def _walk(data: Any, parts: list[str], prefix: str = ""):
    """(dotted name, value) of every field that the path `parts` reaches in `data`."""
    if not parts:
        yield prefix, data
        return
    head, rest = parts[0], parts[1:]
    optional = head.endswith("?")
    head = head.rstrip("?")
    if head == "*":
        items = (data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ())
        for key, value in items:
            yield from _walk(value, rest, f"{prefix}.{key}" if prefix else str(key))
        return
    if not isinstance(data, dict):
        return  # the parent's own type is checked by its own entry
    name = f"{prefix}.{head}" if prefix else head
    if head not in data:
        if not optional:
            yield name, MISSING
        return
    yield from _walk(data[head], rest, name)


class _Missing:
    """What a missing key reads as: compares unequal to every value, and says so in a message."""

    def __repr__(self) -> str:
        return "nothing (the key is missing)"


MISSING = _Missing()


WEIGHT_COLUMNS = {"record_id": "int64", "w0": "float64", "m": "float64", "weight": "float64"}
TARGET_COLUMNS = {
    "name": "string", "target": "float64", "fitted": "float64", "rel_error": "float64", "dual": "float64",
}


@dataclass
class Reference:
    """A reference as read back: the arrays and the metadata."""

    directory: Path
    record_id: np.ndarray
    w0: np.ndarray
    m: np.ndarray
    weight: np.ndarray
    targets: pa.Table
    metadata: dict[str, Any]
    manifest: dict[str, Any]

    def computed_weights_hash(self) -> str:
        """The hash of the arrays as read (the metadata's `weights_hash` is the one recorded)."""
        return weights_hash(self.record_id, self.w0, self.m, self.weight)


def weights_hash(record_id: np.ndarray, w0: np.ndarray, m: np.ndarray, weight: np.ndarray) -> str:
    return arrays_hash([("record_id", record_id), ("w0", w0), ("m", m), ("weight", weight)])


def weight_fingerprint(weight: np.ndarray) -> dict[str, float]:
    """The weight distribution's fingerprint, the statistics TMD's test_weights compares."""
    return {
        "n": int(weight.size),
        "total": float(weight.sum()),
        "mean": float(weight.mean()),
        "sdev": float(weight.std()),
        "min": float(weight.min()),
        "p25": float(np.percentile(weight, 25)),
        "p50": float(np.median(weight)),
        "p75": float(np.percentile(weight, 75)),
        "max": float(weight.max()),
        "sum_sq": float(np.sum(weight**2)),
    }


def package_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the named packages, with Python's."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def versions() -> dict[str, str]:
    return package_versions(("numpy", "scipy", "pyarrow", "pandas", "xxhash", "goldstar"))


def write_reference(
    directory: str | os.PathLike[str],
    *,
    record_id: np.ndarray,
    w0: np.ndarray,
    m: np.ndarray,
    target_names: tuple[str, ...],
    target_values: np.ndarray,
    fitted: np.ndarray,
    dual: np.ndarray,
    problem_meta: dict[str, Any],
    inputs: dict[str, Any],
    solver_chain: list[dict[str, Any]],
    certificate: dict[str, Any],
    replace: bool = False,
    extra_target_columns: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Write the three files of a reference as one atomic directory replacement; return the manifest.

    An existing reference there is replaced only with `replace=True`; a
    directory that is not a goldstar reference is never replaced (goldstar.store.outputs).
    """
    weight = w0 * m
    digest = weights_hash(record_id, w0, m, weight)
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "problem": problem_meta,
        "inputs": inputs,
        "weights_hash": digest,
        "solver_chain": solver_chain,
        "certificate": certificate,
        "versions": versions(),
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    weights_table = pa.table({
        "record_id": pa.array(record_id, pa.int64()),
        "w0": pa.array(w0, pa.float64()),
        "m": pa.array(m, pa.float64()),
        "weight": pa.array(weight, pa.float64()),
    }).replace_schema_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True).encode("utf-8")})
    targets_table = pa.table({
        "name": pa.array(list(target_names), pa.string()),
        "target": pa.array(target_values, pa.float64()),
        "fitted": pa.array(fitted, pa.float64()),
        "rel_error": pa.array(relative_error(fitted, target_values), pa.float64()),
        "dual": pa.array(dual, pa.float64()),
        **{name: pa.array(values) for name, values in (extra_target_columns or {}).items()},
    })
    final = solver_chain[-1]
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "problem_hash": problem_meta["problem_hash"],
        "inputs": {k: v.get("hash") for k, v in sorted(inputs.items())},
        "weights_hash": digest,
        "loss": final["loss"],
        "solver_chain": [s["method"] for s in solver_chain],
        "certificate": {k: certificate[k] for k in (
            "passed", "fixed_point_error", "gap", "bound_max_relative", "bound_l2", "max_band_violation",
            "pg", "bound_violation",
        ) if k in certificate},
        "weight_fingerprint": weight_fingerprint(weight),
        "targets": len(target_names),
    }
    with output_directory(directory, outputs.REFERENCE, replace=replace) as tmp:
        pq.write_table(weights_table, tmp / WEIGHTS)
        pq.write_table(targets_table, tmp / TARGETS)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def resolve_reference_dir(directory: str | os.PathLike[str]) -> Path:
    """The reference directory, after rolling back a replacement that was interrupted.

    atomic_directory swaps with two renames; a kill between them leaves NAME
    missing and the previous reference whole under `.NAME.old-PID`.
    goldstar.store.atomic.recover moves it back, says so on stderr, and that is what
    is read. A missing reference with no interrupted swap is an error: a stale
    copy is never read in its place.
    """
    directory = Path(directory)
    try:
        recover(directory)
    except InputError as exc:
        raise ReferenceFormatError(str(exc)) from None
    if directory.is_dir():
        return directory
    if directory.is_file():
        raise ReferenceFormatError(f"{directory}: a file; a reference is a directory (give {directory.parent})")
    raise ReferenceFormatError(f"{directory}: no reference here (run `make goldstar` to create one)")


def read_reference(directory: str | os.PathLike[str]) -> Reference:
    """Read a reference, checking files, columns, schema version and metadata keys."""
    directory = resolve_reference_dir(directory)
    weights = read_table_checked(directory / WEIGHTS, WEIGHT_COLUMNS, error=ReferenceFormatError)
    targets = read_table_checked(directory / TARGETS, TARGET_COLUMNS, error=ReferenceFormatError)
    raw = (weights.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ReferenceFormatError(f"{directory / WEIGHTS}: no goldstar metadata in the Parquet file")
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceFormatError(f"{directory / WEIGHTS}: goldstar metadata is not JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise ReferenceFormatError(f"{directory / WEIGHTS}: goldstar metadata must be a JSON object, "
                                   f"found {type(metadata).__name__}")
    version = metadata.get("schema_version")
    if not is_number(version) or version not in KNOWN_SCHEMA_VERSIONS:
        raise ReferenceFormatError(
            f"{directory / WEIGHTS}: schema version {version!r} is not one this goldstar knows "
            f"({', '.join(map(str, KNOWN_SCHEMA_VERSIONS))}); upgrade goldstar or regenerate the reference"
        )
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ReferenceFormatError(f"{directory / WEIGHTS}: metadata lacks key(s): {', '.join(missing)}")
    check_types(metadata, METADATA_TYPES, f"{directory / WEIGHTS}: goldstar metadata")
    manifest = read_json_object(directory / MANIFEST, error=ReferenceFormatError)
    return Reference(
        directory=directory,
        record_id=weights.column("record_id").to_numpy(),
        w0=weights.column("w0").to_numpy(),
        m=weights.column("m").to_numpy(),
        weight=weights.column("weight").to_numpy(),
        targets=targets,
        metadata=metadata,
        manifest=manifest,
    )
