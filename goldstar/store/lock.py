"""One goldstar run at a time on an output: a lock file beside it.

`goldstar goldstar` holds it on its reference directory, `goldstar areas` on
its `--out` directory and on its `--write-reference` directory.

`.NAME.lock` (next to the reference directory NAME) holds a JSON object with
the holder's pid, host, start time and command. It is created whole and
atomically (written under a temporary name, then hard-linked to its name,
which fails if the name exists), so a lock file is never seen half-written.

A second run on the same reference does not wait: it stops at once with an
error naming the holder (exit 2, goldstar.cli), before it has done any work.
A reference run takes minutes, and a queue of them on one directory is a
mistake rather than something to wait out.

A lock whose pid is not alive on this host is stale (its run was killed): the
next run removes it, says so, and goes on. Breaking a stale lock is done
under an flock of the directory, so two runs that find the same stale lock
cannot both take over. A lock from another host cannot be judged from here:
it is respected, and the message says to remove the file by hand if that run
is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from .atomic import pid_alive
from ..exceptions import InputError
from ..params import is_integer


class ReferenceLocked(InputError):
    """Another run holds the reference's lock."""


def lock_path(directory: str | os.PathLike[str]) -> Path:
    directory = Path(directory)
    return directory.parent / f".{directory.name}.lock"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _is_stale(holder: dict[str, Any] | None) -> bool:
    """A lock of this host whose pid is dead. Unreadable or foreign-host locks are never stale."""
    if holder is None or holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    return is_integer(pid) and not pid_alive(pid)


@contextlib.contextmanager
def _directory_guard(directory: Path) -> Iterator[None]:
    """An exclusive flock of `directory` (where the platform has flock; else nothing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the O_EXCL-style link still guards taking the lock
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _message(directory: Path, path: Path, holder: dict[str, Any] | None) -> str:
    if holder is None:
        return (f"{directory} is locked by another goldstar run (lock file {path}, unreadable); "
                f"if no such run is going on, remove {path}")
    name = str(holder.get("run") or "goldstar")
    who = f"process {holder.get('pid')} on {holder.get('host')} since {holder.get('created')}"
    text = f"{directory} is locked by another `{name}` run: {who} (lock file {path}); "
    if holder.get("host") == socket.gethostname():
        return text + "wait for it to finish"
    return text + f"wait for it to finish, or, if that run is gone, remove {path}"


def acquire(directory: str | os.PathLike[str], log: Callable[[str], None] | None = None,
            run: str = "goldstar goldstar") -> str:
    """Take the lock of output `directory` for `run` (the command, as the holder's message names
    it); return its token. Raise ReferenceLocked if held."""
    directory = Path(directory)
    path = lock_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    content = {
        "pid": os.getpid(), "host": socket.gethostname(), "token": token,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv), "run": run,
    }
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(content, fh)
            fh.flush()
            os.fsync(fh.fileno())
        for _ in range(3):
            try:
                os.link(tmp_name, path)
                return token
            except FileExistsError:
                pass
            with _directory_guard(path.parent):
                holder = _read(path)
                if not _is_stale(holder):
                    raise ReferenceLocked(_message(directory, path, holder))
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            (log or (lambda m: print(m, file=sys.stderr)))(
                f"NOTE: removed the stale lock {path} of process {holder['pid']}, which is no longer running"
            )
        raise ReferenceLocked(_message(directory, path, _read(path)))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def release(directory: str | os.PathLike[str], token: str) -> None:
    """Remove the lock of `directory` if it is still the one `token` took."""
    path = lock_path(directory)
    with _directory_guard(path.parent):
        holder = _read(path)
        if holder is not None and holder.get("token") == token:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@contextlib.contextmanager
def reference_lock(directory: str | os.PathLike[str], log: Callable[[str], None] | None = None,
                   run: str = "goldstar goldstar") -> Iterator[Path]:
    """Hold the lock of output `directory` for the duration of the block."""
    token = acquire(directory, log=log, run=run)
    try:
        yield lock_path(directory)
    finally:
        release(directory, token)
