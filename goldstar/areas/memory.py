"""Memory: how much a batch needs (refused up front when the machine cannot hold it), how a
process keeps its large arrays on the heap, and its peak resident memory.

A batch holds, on one machine with a local cluster (measured on the embedded
CPS file, 280,005 records, and synthetic:20000):

- the national data in the client: about CLIENT_BYTES_PER_RECORD a record (records,
  the cell matrix, weights; 294 MB measured for 280,005 records);
- each local worker: about WORKER_BYTES_PER_RECORD a record (its copy of the national
  data and one area's solve; peak RSS 362 to 548 MB measured per worker);
- each area: BYTES_PER_AREA (its targets and SOI values, settings and input hash,
  5.7 KB measured; its row, its Dask task and future, and its summary line).

    needed = records x (CLIENT + workers x WORKER) + areas x BYTES_PER_AREA

`goldstar areas --areas synthetic:N` is refused (InputError, exit 2) when this
exceeds the machine's total memory, saying what it would need. States (51) and
districts (436) are far below any machine's.
"""

from __future__ import annotations

import os
import resource

from ..exceptions import InputError

CLIENT_BYTES_PER_RECORD = 1_100
WORKER_BYTES_PER_RECORD = 2_000
BYTES_PER_AREA = 32 * 1024


def total_memory() -> int | None:
    """This machine's physical memory in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def batch_bytes(areas: int, records: int, workers: int) -> int:
    """The estimate of the module docstring."""
    return records * (CLIENT_BYTES_PER_RECORD + workers * WORKER_BYTES_PER_RECORD) + areas * BYTES_PER_AREA


def check_batch_memory(areas: int, records: int, workers: int | None) -> None:
    """InputError when `areas` areas over `records` records on `workers` local workers (default:
    one a core; 0 with a remote scheduler's) need more memory than this machine has."""
    total = total_memory()
    if total is None:
        return
    local = workers if workers is not None else (os.cpu_count() or 1)
    needed = batch_bytes(areas, records, local if records else 0)
    if needed > total:
        raise InputError(
            f"`--areas synthetic:{areas}` would need about {needed / 2**30:,.1f} GiB of memory "
            f"({areas:,} areas x {BYTES_PER_AREA // 1024} KB" + (
                f" + {records:,} records x ({CLIENT_BYTES_PER_RECORD:,} B + {local} worker(s) x "
                f"{WORKER_BYTES_PER_RECORD:,} B)" if records else "")
            + f"); this machine has {total / 2**30:,.1f} GiB. Give fewer areas, or run parts of the set "
            "in separate batches")


# glibc's mallopt parameters: the size from which malloc maps fresh pages (M_MMAP_THRESHOLD)
# and the free space at the top of the heap that it hands back to the kernel (M_TRIM_THRESHOLD).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_arrays_on_heap(up_to_bytes: int) -> None:
    """Let malloc reuse heap memory for arrays up to `up_to_bytes` in this process (Linux/glibc
    only; elsewhere nothing happens). Above glibc's default threshold (at most 32 MB) every
    array is a fresh mmap whose pages the kernel zeroes on first touch and takes back on free."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, int(up_to_bytes))
        libc.mallopt(_M_TRIM_THRESHOLD, int(up_to_bytes))
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> None:
    """Start the process's peak-RSS count afresh (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """This process's peak resident memory since reset_peak_rss (or its start), in MB.

    /proc/self/status VmHWM on Linux. Not ru_maxrss: Linux carries it across
    exec, so a spawned Dask worker would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
