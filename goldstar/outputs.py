"""What kind of goldstar output a directory holds, and whether a writer may replace it.

Every goldstar writer of a directory (`goldstar synth` and `goldstar build` write
a problem directory, `goldstar goldstar` a reference) asks here before it
writes, and again just before it swaps its new directory into place
(goldstar.atomic.atomic_directory). The rules, the same for every writer:

- an absent path, or an empty directory, may be written;
- a directory that goldstar did not write (anything that is not recognised
  below) is never replaced, with or without --force: that is how
  `--out reference` once wiped the vendored inputs;
- a goldstar output of the same kind is replaced only when the caller says
  so (`replace=True`: --force for synth and build; `goldstar goldstar`
  decides by the reference's inputs, see goldstar.pipeline);
- a goldstar output of the other kind is refused like a foreign directory.

Recognition, by content and never by name:
- a problem directory: problem.json is a JSON object with `layout_version`;
- a reference directory: weights.parquet carries goldstar's Parquet metadata
  and MANIFEST.json is beside it.

Before deciding, an interrupted replacement of the path is rolled back and
the leftovers of dead writers are removed (goldstar.atomic.recover, tidy).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .exceptions import InputError

PROBLEM = "problem"
REFERENCE = "reference"
KINDS = (PROBLEM, REFERENCE)


def output_kind(path: str | os.PathLike[str]) -> str | None:
    """PROBLEM or REFERENCE when `path` is a directory goldstar wrote, else None."""
    from .layout import PROBLEM_JSON
    from .reference import MANIFEST, METADATA_KEY, WEIGHTS

    path = Path(path)
    if not path.is_dir():
        return None
    settings = path / PROBLEM_JSON
    if settings.is_file():
        try:
            data = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = None
        if isinstance(data, dict) and "layout_version" in data:
            return PROBLEM
    weights = path / WEIGHTS
    if weights.is_file() and (path / MANIFEST).is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            metadata = pq.read_schema(weights).metadata or {}
        except (pa.ArrowException, OSError):
            metadata = {}
        if METADATA_KEY in metadata:
            return REFERENCE
    return None


def check_output(path: str | os.PathLike[str], kind: str, *, replace: bool, flag: str = "--force") -> None:
    """Raise InputError unless a goldstar `kind` may be written at `path` (the rules above).

    `flag` is the option that the message tells the user to pass to replace
    an output of the same kind.
    """
    from .atomic import require_under_directories

    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        require_under_directories(path, "output")
        return
    if not path.is_dir():
        raise InputError(f"{path} exists and is not a directory; goldstar writes a {kind} directory there "
                         "only where nothing or an earlier goldstar output is")
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return
    found = output_kind(path)
    if found == kind:
        if not replace:
            raise InputError(f"{path} already holds a goldstar {kind}; pass {flag} to replace it")
        return
    what = f"a goldstar {found}" if found else "files goldstar did not write"
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    raise InputError(
        f"{path} holds {what} ({shown}), not a goldstar {kind}; goldstar never replaces such a "
        f"directory, with or without {flag}: choose another path, or move it away yourself"
    )


def prepare_output(path: str | os.PathLike[str], kind: str, *, replace: bool, flag: str = "--force",
                   log=None) -> None:
    """Roll back an interrupted replacement of `path`, remove dead writers' leftovers, then check_output."""
    from .atomic import recover, tidy

    recover(path, log=log)
    tidy(path)
    check_output(path, kind, replace=replace, flag=flag)
