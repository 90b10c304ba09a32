"""Writes that never leave a half-written file: temporary file, fsync, rename.

A crash or Ctrl-C at any moment leaves either the old file or the new one
whole, never a mix (os.replace is atomic on POSIX and Windows when source and
destination are on one file system, which a sibling temporary guarantees).

Names beside a target NAME, each carrying the writer's pid so that a later run
can tell a live writer's files from a dead one's:

    .NAME.PID-XXXX.tmp   the new file or directory being written
    .NAME.old-PID        the previous directory, moved aside during the swap

A directory is replaced by two renames (NAME -> .NAME.old-PID, then the
temporary -> NAME). A writer killed between them leaves NAME missing and the
previous directory whole under .NAME.old-PID. `recover` rolls that back: it
moves the aside back to NAME. It does not complete the swap with the new
temporary directory, although that directory was complete (the swap starts
only after it is fsynced): the second rename is the commit point, the killed
run never reported success, so its output must not appear as if it had. The
new temporary directory is then a dead writer's leftover, which `tidy`
removes, like every `.NAME.*.tmp` and (once NAME exists) `.NAME.old-*` whose
pid is not alive on this host. Every writer recovers and tidies first; names
without a pid (older goldstar) are left alone. The patterns are git-ignored.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from ..exceptions import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (a zombie counts as alive until reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OSError:
        return True  # cannot tell: assume alive, never delete a live writer's files
    return True


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}-"


def aside_path(path: Path, pid: int | None = None) -> Path:
    return path.parent / f".{path.name}.old-{os.getpid() if pid is None else pid}"


def leftovers(path: str | os.PathLike[str]) -> list[tuple[Path, str, int]]:
    """The temporaries ("tmp") and asides ("aside") of writers of `path`, with their pids."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    name = re.escape(path.name)
    patterns = {
        "aside": re.compile(rf"^\.{name}\.old-(\d+)$"),
        "tmp": re.compile(rf"^\.{name}\.(\d+)-[A-Za-z0-9_]+\.tmp$"),
    }
    found = []
    for entry in path.parent.iterdir():
        for what, pattern in patterns.items():
            match = pattern.match(entry.name)
            if match:
                found.append((entry, what, int(match.group(1))))
    return sorted(found)


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def recover(path: str | os.PathLike[str], log: Callable[[str], None] | None = None) -> Path | None:
    """Roll back a replacement of directory `path` that a killed writer left half done.

    When `path` is missing and a dead writer's `.NAME.old-PID` is beside it,
    move that aside back to `path` (the newest, if several), say so through
    `log` (stderr by default) and return `path`; the module docstring says
    why this rolls back rather than forward. Return None when there was
    nothing to do. Raise InputError when `path` is missing because a live
    writer is between its two renames.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        return None
    asides = [(entry, pid) for entry, what, pid in leftovers(path) if what == "aside"]
    if not asides:
        return None
    live = [pid for _, pid in asides if pid_alive(pid)]
    if live:
        raise InputError(f"{path} is being replaced right now by process {live[0]} (its previous copy is "
                         f"aside at {aside_path(path, live[0]).name}); run again when that process ends")
    entry, pid = max(asides, key=lambda a: a[0].stat().st_mtime)
    os.replace(entry, path)
    _fsync_dir(path.parent)
    (log or _stderr)(
        f"NOTE: {path} was missing: a replacement by process {pid} was interrupted between its two "
        f"renames. Rolled it back: moved the previous copy {entry.name} back to {path.name}."
    )
    return path


def tidy(path: str | os.PathLike[str]) -> list[Path]:
    """Remove dead writers' temporaries of `path`, and their asides once `path` exists; return them."""
    path = Path(path)
    exists = path.exists() or path.is_symlink()
    removed = []
    for entry, what, pid in leftovers(path):
        if pid == os.getpid() or pid_alive(pid):
            continue
        if what == "aside" and not exists:
            continue  # the only copy left: recover() restores it, never delete it
        _remove(entry)
        removed.append(entry)
    return removed


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call write(tmp) on a temporary sibling of `path`, fsync it, then rename it onto `path`.

    `path` must be a file or absent: a directory there is refused (InputError),
    never replaced.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; give the path of a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tidy(path)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, check: Callable[[], None]) -> Iterator[Path]:
    """Yield a temporary directory; on success it takes the place of `path` whole.

    `check` raises (InputError) unless `path` may be replaced: it runs before
    anything is written and again just before the swap, so that nothing that
    appeared meanwhile is replaced either (goldstar.store.outputs.output_directory
    passes its rules). The old directory is moved aside and removed only after
    the new one is in place, so an interruption leaves one complete directory:
    the old one, or the new one (see `recover`).
    """
    path = Path(path)
    check()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        for folder, _, files in os.walk(tmp, topdown=False):  # every file, then its folder
            for name in files:
                with open(os.path.join(folder, name), "rb+") as fh:
                    os.fsync(fh.fileno())
            _fsync_dir(Path(folder))
        check()  # nothing may have appeared meanwhile
        old = None
        if path.exists():
            old = aside_path(path)
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
