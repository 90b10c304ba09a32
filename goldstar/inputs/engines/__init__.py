"""Records engines: what turns an input file into the SOI-named record table the builder reads.

One registry, `ENGINES`:

- `cps`: the hand approximation of goldstar.inputs.cps (no dependency; the default
  problem's engine);
- `taxcalc`: Tax-Calculator run the way TMD runs it (goldstar.inputs.engines.taxcalc_,
  optional extra `taxcalc`), its derived table cached (goldstar.inputs.engines.cache).

`run_engine` returns the table, the hashes of every input file by role, and
the engine's facts for problem.json (`{"name", "version", ...}`).
`engine_version_checks` is the hook `goldstar verify` calls: a reference made
by a versioned engine fails its hash check when the installed version differs,
naming both versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ...checks import Check
from ...exceptions import InputError
from ...hashing import file_entry, frame_entry
from ...defaults import DEFAULT_RECORDS
from ...store.tables import read_table
from ..cps import cps_to_soi
from . import taxcalc_


# A records file, a DataFrame of its columns, or None for the embedded CPS file.
Records = Path | pd.DataFrame | None


@dataclass(frozen=True)
class Engine:
    """A records engine: derive(records, year, options) -> (table, facts); its input files; its version."""

    name: str
    description: str
    derive: Callable[[Records, int, dict[str, Any]], tuple[pd.DataFrame, dict[str, Any]]]
    input_files: Callable[[Records, dict[str, Any]], dict[str, Path]]
    version: Callable[[], str | None]
    package: str | None = None


# -- cps: the hand approximation ----------------------------------------------------


def _cps_derive(records: Records, year: int, options: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:

    if options:
        raise InputError(f"the cps engine takes no options; got {sorted(options)}")
    if isinstance(records, pd.DataFrame):
        return cps_to_soi(records), {}
    path = _cps_files(records, options)["records"]
    return cps_to_soi(read_table(path, "CPS")), {}


def _cps_files(records: Records, options: dict[str, Any]) -> dict[str, Path]:

    if isinstance(records, pd.DataFrame):
        return {}
    return {"records": Path(records) if records is not None else DEFAULT_RECORDS}


# -- taxcalc --------------------------------------------------------------------------

TAXCALC_OPTIONS = ("weights", "growfactors", "data_year", "s006_scale", "aged")


def _taxcalc_aging_files(records: Path | pd.DataFrame, options: dict[str, Any]) -> dict[str, Path]:
    """The weights and growfactors files by option name: as given, or with `aged` Tax-Calculator's
    own CPS files (the embedded CPS file only, as `Records.cps_constructor` ages it)."""
    given = {k: Path(options[k]) for k in ("weights", "growfactors") if options.get(k) is not None}
    if not options.get("aged"):
        return given
    if given:
        raise InputError("--tc-aged takes Tax-Calculator's own CPS weights and growfactors files: leave out "
                         f"{', '.join(taxcalc_flag(k) for k in given)} (given, or recorded by the reference's build)")

    if isinstance(records, pd.DataFrame):
        raise InputError("aged ages the embedded CPS file only, read from its file (records=None); for a "
                         "DataFrame give weights= and growfactors= files")
    if Path(records).is_file() and not taxcalc_.is_embedded_cps(records):
        raise InputError(f"--tc-aged ages the embedded CPS file only (Tax-Calculator's weights file is for "
                         f"its records), not {records}; for another file give --tc-weights and --tc-growfactors")
    return taxcalc_.own_cps_aging_files()


def _taxcalc_records(records: Records) -> Path | pd.DataFrame:
    if isinstance(records, pd.DataFrame):
        return records
    return Path(records) if records is not None else DEFAULT_RECORDS


def taxcalc_inputs(records: Records, year: int, options: dict[str, Any]) -> Any:

    unknown = sorted(set(options) - set(TAXCALC_OPTIONS))
    if unknown:
        raise InputError(f"unknown taxcalc engine option(s) {unknown}; options are {', '.join(TAXCALC_OPTIONS)}")
    records = _taxcalc_records(records)
    return taxcalc_.TaxcalcInputs(
        records=records, year=year, **_taxcalc_aging_files(records, options),
        data_year=options.get("data_year"), s006_scale=options.get("s006_scale"),
    )


def _taxcalc_derive(records: Records, year: int, options: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:

    table, entry = taxcalc_.derive(taxcalc_inputs(records, year, options))
    return table, {"cache_key": entry.key_hash, "cache_hit": entry.hit}


def _taxcalc_files(records: Records, options: dict[str, Any]) -> dict[str, Path]:

    records = _taxcalc_records(records)
    aging = {f"tc_{key}": path for key, path in _taxcalc_aging_files(records, options).items()}
    return aging if isinstance(records, pd.DataFrame) else {"records": records, **aging}


def _taxcalc_version() -> str | None:

    return taxcalc_.installed_version()


ENGINES: dict[str, Engine] = {
    "cps": Engine("cps", "the hand approximation of goldstar.inputs.cps (CPS file only)",
                  _cps_derive, _cps_files, lambda: None),
    "taxcalc": Engine("taxcalc", "Tax-Calculator, run as TMD runs it (extra `taxcalc`)",
                      _taxcalc_derive, _taxcalc_files, _taxcalc_version, package="taxcalc"),
}


def get_engine(name: str) -> Engine:
    if name not in ENGINES:
        raise InputError(f"unknown engine {name!r}; engines are {', '.join(ENGINES)}")
    return ENGINES[name]


def run_engine(
    name: str, records: str | Path | pd.DataFrame | None, year: int, options: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, dict[str, dict[str, str]], dict[str, Any]]:
    """(record table, {role: {file, hash}}, engine facts) for `records` through engine `name`.

    `records` may be a DataFrame of the file's columns: it is recorded by the hash of its values
    (goldstar.hashing.frame_entry) in place of a file's, and keys the taxcalc engine's cache so.
    """
    engine = get_engine(name)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if not isinstance(records, pd.DataFrame):
        records = Path(records) if records is not None else None
    table, facts = engine.derive(records, year, options)
    inputs = {
        role: file_entry(path)
        for role, path in engine.input_files(records, options).items()
    }
    if isinstance(records, pd.DataFrame):
        inputs = {"records": frame_entry(records), **inputs}
    inputs["records"]["adapter"] = name
    meta = {"name": name, "version": engine.version(), "options": options, **facts}
    if engine.package is not None:
        meta["package"] = engine.package
    return table, inputs, meta


def engine_version_checks(engine_meta: dict[str, Any] | None) -> list[Check]:
    """The installed engine's version against the one a reference or problem recorded.

    No recorded engine, or an engine without a version (cps), gives no check.
    """
    if not engine_meta or engine_meta.get("version") is None:
        return []
    engine = ENGINES.get(engine_meta.get("name", ""))
    installed = engine.version() if engine is not None else None
    recorded = engine_meta["version"]
    package = engine_meta.get("package", engine_meta.get("name"))
    return [Check(
        f"engine {package}", installed == recorded, f"{package} {installed or 'not installed'}",
        f"recorded {package} {recorded}",
        f"{package} version changed: the reference was made with {package} {recorded}, this machine has "
        f"{installed or 'none installed'}; install {package}=={recorded} (make install) or rerun "
        "`make goldstar` if the change is intended",
    )]


def add_engine_arguments(p: Any) -> None:
    """The --engine and --tc-* options of `goldstar build` and `goldstar goldstar`."""
    p.add_argument("--engine", choices=sorted(ENGINES), default=None,
                   help="records engine: cps (hand approximation) or taxcalc (Tax-Calculator, extra "
                        "`taxcalc`); default: cps for the embedded file, none for --records")
    add_taxcalc_arguments(p)


def add_taxcalc_arguments(p: Any) -> None:
    """The --tc-* options: how Tax-Calculator reads the records file."""
    p.add_argument("--tc-weights", default=None, help="taxcalc: weights file (WT<year> columns, x100)")
    p.add_argument("--tc-growfactors", default=None, help="taxcalc: growfactors file (needs --tc-weights)")
    p.add_argument("--tc-data-year", type=int, default=None,
                   help="taxcalc: the records' data year (default: the file's largest FLPDYR)")
    p.add_argument("--tc-s006-scale", type=float, default=None,
                   help="taxcalc: weight = s006 x this without a weights file (default 0.01 for the "
                        "embedded CPS file, 1 otherwise)")
    p.add_argument("--tc-aged", action="store_const", const=True, default=None,
                   help="taxcalc: age the embedded CPS file to the year with Tax-Calculator's own CPS "
                        "weights and growfactors, as Records.cps_constructor does")


def taxcalc_option_values(args: Any) -> dict[str, Any]:
    """Each taxcalc engine option (TAXCALC_OPTIONS) as its --tc-* flag set it, None when not given."""
    return {k: getattr(args, f"tc_{k}") for k in TAXCALC_OPTIONS}


def taxcalc_flag(option: str) -> str:
    """The command-line flag of a taxcalc engine option: s006_scale -> --tc-s006-scale."""
    return "--tc-" + option.replace("_", "-")


def engine_options(args: Any) -> dict[str, Any]:
    """The engine options given on the command line (None values left out)."""
    options = {k: v for k, v in taxcalc_option_values(args).items() if v is not None}
    if options and args.engine != "taxcalc":
        raise InputError(f"--tc-* options need --engine taxcalc (given: {', '.join(sorted(options))})")
    return options
