"""What kind of goldstar output a directory holds, and whether a writer may replace it.

Every goldstar writer of a directory (`goldstar synth` and `goldstar build` write
a problem directory, `goldstar goldstar` a reference) asks here before it
writes, and again just before it swaps its new directory into place
(goldstar.store.atomic.atomic_directory). The rules, the same for every writer:

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
the leftovers of dead writers are removed (goldstar.store.atomic.recover, tidy).

Single files (`solve --out`, `report --out`, `impact --html`, `build
--report`) follow the same rule, checked before any work by
`check_output_file`: an absent path may be written; an existing regular file
only when goldstar wrote it as that kind (FILE_KINDS: its mark, by content);
never a directory, a device, a pipe or a symbolic link, and never a path that
cannot be created (under a file, or where nothing may be written).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..exceptions import InputError
from ..present.markup import HTML_MARK
from .atomic import atomic_directory, recover, tidy

PROBLEM = "problem"
REFERENCE = "reference"
KINDS = (PROBLEM, REFERENCE)

# The files by which each kind is recognised (and which its writer writes)
PROBLEM_JSON = "problem.json"  # a problem directory's settings (goldstar.store.layout)
WEIGHTS = "weights.parquet"  # a reference's weights (goldstar.store.reference)
MANIFEST = "MANIFEST.json"  # a reference's summary
METADATA_KEY = b"goldstar"  # the Parquet schema-metadata key of a reference's weights


def output_kind(path: str | os.PathLike[str]) -> str | None:
    """PROBLEM or REFERENCE when `path` is a directory goldstar wrote, else None."""

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


def check_output(path: str | os.PathLike[str], kind: str, *, replace: bool, flag: str = "--force",
                 option: str = "--out") -> None:
    """Raise InputError unless a goldstar `kind` may be written at `path` (the rules above).

    `flag` is the option that the message tells the user to pass to replace
    an output of the same kind; `option` the one that named `path`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    path = Path(path)
    # the new directory is made beside `path` and renamed onto it (goldstar.store.atomic): its parent must take it
    require_writable(path, option)
    if not path.exists() and not path.is_symlink():
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


@contextlib.contextmanager
def output_directory(path: str | os.PathLike[str], kind: str, *, replace: bool,
                     flag: str = "--force") -> Iterator[Path]:
    """A temporary directory that takes the place of `path` whole when the block succeeds
    (goldstar.store.atomic.atomic_directory), under the rules above, checked before anything is
    written and again just before the swap."""
    prepare_output(path, kind, replace=replace, flag=flag)
    with atomic_directory(path, check=lambda: check_output(path, kind, replace=replace, flag=flag)) as tmp:
        yield tmp


def prepare_output(path: str | os.PathLike[str], kind: str, *, replace: bool, flag: str = "--force",
                   option: str = "--out", log=None) -> None:
    """Roll back an interrupted replacement of `path`, remove dead writers' leftovers, then check_output."""

    recover(path, log=log)
    tidy(path)
    check_output(path, kind, replace=replace, flag=flag, option=option)


# -- single files ------------------------------------------------------------------

# The schema-metadata key of the weights Parquet `goldstar solve` writes.
SOLVE_METADATA_KEY = b"goldstar_solve"
# The columns of the CSV `goldstar build --report` writes, in order (`dropped`: the band
# pre-pass's reason, empty for a kept target). Reports of earlier versions lack `dropped`.
BUILD_REPORT_COLUMNS = ("name", "target", "initial", "rel_error", "dropped")


def _head(path: Path, size: int = 4096) -> str:
    """The file's first bytes as text; "" when it cannot be read (then it is not taken for goldstar's)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _solve_parquet(path: Path) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return SOLVE_METADATA_KEY in (pq.read_schema(path).metadata or {})
    except (pa.ArrowException, OSError):
        return False


@dataclass(frozen=True)
class FileKind:
    """A single-file output: what to call it, and how to tell one goldstar wrote."""

    noun: str
    ours: Callable[[Path], bool]


FILE_KINDS: dict[str, FileKind] = {
    "html": FileKind("an HTML file", lambda p: HTML_MARK in _head(p)),
    "weights": FileKind("a Parquet file", _solve_parquet),
    "build report": FileKind("a CSV file", lambda p: _head(p).splitlines()[:1] in (
        [",".join(BUILD_REPORT_COLUMNS)], [",".join(BUILD_REPORT_COLUMNS[:-1])])),
}


def require_writable(path: str | os.PathLike[str], option: str) -> None:
    """Refuse, before any work, an output path that could never be made: its nearest existing
    ancestor is a file, or nothing may be created there (tried, as the atomic writers will)."""
    path = Path(path)
    ancestor = next((p for p in path.parents if p.exists()), Path("."))
    if not ancestor.is_dir():
        raise InputError(f"{option} {path}: {ancestor} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".goldstar-probe-", dir=ancestor)
    except OSError as exc:
        raise InputError(f"{option} {path}: nothing can be written in {ancestor} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: str | os.PathLike[str], kind: str, option: str) -> None:
    """Raise InputError, before any work, unless a goldstar `kind` file may be written at `path`."""
    if kind not in FILE_KINDS:
        raise ValueError(f"unknown output file kind {kind!r}")
    file_kind = FILE_KINDS[kind]
    path = Path(path)
    if path.is_symlink():
        raise InputError(f"{option} {path} is a symbolic link; give the path of the file itself")
    if path.is_dir():
        raise InputError(f"{option} {path} is a directory; give the path of {file_kind.noun} to write")
    if path.exists() and not path.is_file():
        raise InputError(f"{option} {path} is not a regular file (a device or a pipe); goldstar writes only "
                         "regular files")
    if path.exists() and not file_kind.ours(path):
        raise InputError(f"{option} {path} exists and goldstar did not write it as {file_kind.noun}; goldstar "
                         "never replaces such a file: choose another path, or move it away yourself")
    require_writable(path, option)
