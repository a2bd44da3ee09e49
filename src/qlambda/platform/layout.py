"""Where a job's files live under the data directory, and how they go away.

A job id is an 11-hex-digit millisecond timestamp followed by 6 random hex digits
(``new_job_id``), so its first digits name a stretch of time. A job's working
directory, its log and its result (when over 1 MB) are filed under two levels cut
from that prefix::

    jobs/<id[:5]>/<id[5:7]>/<id>/         # the function's working directory
    jobs/<id[:5]>/<id[5:7]>/<id>.log      # what it printed (removed when empty)
    results/<id[:5]>/<id[5:7]>/<id>.json  # results over 1 MB (or .pickle)

A sandboxed tenant's jobs go the same way under its own folder, ``jobs/<tenant>/``,
the only one its workers can write.

The first level changes every 4.7 hours (about 1,900 folders a year), the second
every 65.5 s (at most 256 per first-level folder), so no folder holds more than the
jobs of about one minute. A job costs two inodes (one if it printed nothing); the
log sits beside the working directory, not in it, so that the function cannot
overwrite it and no ``work/`` folder is needed. Removing a directory is not free
(with the ``discard`` mount option an ``rmdir`` costs milliseconds), so empty
working directories are left to the retention policy rather than removed as each
job ends.

Data directories written before this layout keep their flat ``jobs/<id>/`` folders
(``jobs/<tenant>/<id>/`` when sandboxed; ``output.log`` and ``work/`` inside): their
logs are read, their unfinished jobs resume in them, and retention deletes them the
same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

JOBS = "jobs"
RESULTS = "results"
RESULT_SUFFIXES = (".json", ".pickle", ".pkl")  # a result's format; .pkl: earlier versions
FLAT_LOG, FLAT_WORK = "output.log", "work"  # inside a job folder of the flat layout
_SHARDED_ID = re.compile(r"^[0-9a-f]{8,}$")
_SHARD = re.compile(r"^[0-9a-f]{5}$|^[0-9a-f]{8,}$")  # a shard, or a flat job folder
OUTER, INNER = 5, 2  # hex digits of each level: 2**20 ms (4.7 h), then 2**12 ms (65.5 s)


def shard(job_id: str) -> tuple[str, ...]:
    """The two folder names a job id is filed under; none for ids of another form."""
    if not _SHARDED_ID.match(job_id):
        return ()
    return job_id[:OUTER], job_id[OUTER : OUTER + INNER]


def _jobs(data_dir: Path, tenant: str | None) -> Path:
    return data_dir / JOBS if tenant is None else data_dir / JOBS / tenant


def job_dir(data_dir: Path, job_id: str, tenant: str | None = None) -> Path:
    """A new job's working directory."""
    return _jobs(data_dir, tenant).joinpath(*shard(job_id), job_id)


def job_log(data_dir: Path, job_id: str, tenant: str | None = None) -> Path:
    """A new job's log, beside its working directory."""
    return _jobs(data_dir, tenant).joinpath(*shard(job_id), f"{job_id}.log")


def flat_job_dir(data_dir: Path, job_id: str, tenant: str | None = None) -> Path:
    """Where data directories of earlier versions kept a job's folder."""
    return _jobs(data_dir, tenant) / job_id


def job_paths(data_dir: Path, job_id: str, tenant: str | None = None) -> tuple[Path, Path]:
    """(working directory, log) for a job's next attempt: an earlier attempt's folder
    of the flat layout if there is one, else this layout's."""
    flat = flat_job_dir(data_dir, job_id, tenant)
    if flat.is_dir():
        return flat / FLAT_WORK, flat / FLAT_LOG
    return job_dir(data_dir, job_id, tenant), job_log(data_dir, job_id, tenant)


def result_dir(data_dir: Path, job_id: str) -> Path:
    """The folder of a job's large result (``<id>.<format>`` in it); made if missing."""
    folder = data_dir.joinpath(RESULTS, *shard(job_id))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def drop_if_empty(log: Path) -> None:
    """After a job's last attempt: an empty log goes (an unlink is cheap; a job that
    printed nothing then leaves only its working directory)."""
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()


def job_files(
    data_dir: Path, job_id: str, result_path: str | None = None, owner: str | None = None
) -> list[Path]:
    """The files and folders of one job that exist, in any layout (sandboxed under its
    ``owner`` or not), with its result file.

    Only paths under ``data_dir`` that this layout names for ``job_id`` are ever
    returned, so nothing outside the data directory is deleted whatever a row says."""
    candidates: list[Path] = []
    for tenant in (None, owner) if owner else (None,):
        candidates += [
            job_dir(data_dir, job_id, tenant),
            job_log(data_dir, job_id, tenant),
            flat_job_dir(data_dir, job_id, tenant),
        ]
    for folder in (data_dir.joinpath(RESULTS, *shard(job_id)), data_dir / RESULTS):
        candidates += [folder / f"{job_id}{suffix}" for suffix in RESULT_SUFFIXES]
    if result_path:
        stored = Path(result_path)
        if stored.stem == job_id and _inside(stored, data_dir / RESULTS):
            candidates.append(stored)
    return [path for path in dict.fromkeys(candidates) if path.exists()]


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (or of the file itself); 0 if it is gone."""
    try:
        if not path.is_dir():
            return path.stat().st_size
    except OSError:
        return 0
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def remove_empty_shards(data_dir: Path, before: str) -> int:
    """Remove the empty shard folders of ids sorting before ``before``, such that no job
    can still be given a folder there (the caller passes the oldest unfinished job's id,
    or a new id); returns how many went."""
    removed = 0
    roots = [data_dir / JOBS, data_dir / RESULTS]
    if roots[0].is_dir():  # sandboxed tenants' folders hold shards of their own
        roots += [d for d in roots[0].iterdir() if d.is_dir() and not _SHARD.match(d.name)]
    for root in roots:
        if not root.is_dir():
            continue
        for outer in sorted(root.iterdir()):
            if len(outer.name) != OUTER or not outer.is_dir() or outer.name > before[:OUTER]:
                continue
            for inner in sorted(outer.iterdir()):
                prefix = outer.name + inner.name
                if len(inner.name) == INNER and inner.is_dir() and prefix < before[: len(prefix)]:
                    with contextlib.suppress(OSError):  # not empty: a job still has files there
                        inner.rmdir()
                        removed += 1
            if outer.name < before[:OUTER]:
                with contextlib.suppress(OSError):
                    outer.rmdir()
                    removed += 1
    return removed


_remover: ThreadPoolExecutor | None = None
_remover_lock = threading.Lock()


def remove_later(*paths: Path | None) -> None:
    """Remove files and folders off the caller's thread (an ``rmdir`` may take ms)."""
    global _remover
    with _remover_lock:
        if _remover is None:
            _remover = ThreadPoolExecutor(1, thread_name_prefix="qlambda-remove")
    for path in paths:
        if path is not None:
            _remover.submit(remove, path)
