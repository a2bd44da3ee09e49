"""Where a job's files live under the data directory, and how they go away.

A job id is an 11-hex-digit millisecond timestamp followed by 6 random hex digits
(``new_job_id``), so its first digits name a stretch of time. Job folders and large
results are filed under two levels cut from that prefix::

    jobs/<id[:5]>/<id[5:7]>/<id>/output.log      # what the function printed
    jobs/<id[:5]>/<id[5:7]>/<id>/work/           # its working directory
    results/<id[:5]>/<id[5:7]>/<id>.pkl          # results over 1 MB

The first level changes every 4.7 hours (about 1,900 folders a year), the second
every 65.5 s (at most 256 per first-level folder), so no folder holds more than the
jobs of about one minute. Data directories written before this layout keep their
flat ``jobs/<id>/`` folders: they are found and deleted the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

JOBS = "jobs"
RESULTS = "results"
LOG_NAME = "output.log"
WORK_NAME = "work"
_SHARDED_ID = re.compile(r"^[0-9a-f]{8,}$")
OUTER, INNER = 5, 2  # hex digits of each level: 2**20 ms (4.7 h), then 2**12 ms (65.5 s)


def shard(job_id: str) -> tuple[str, ...]:
    """The two folder names a job id is filed under; none for ids of another form."""
    if not _SHARDED_ID.match(job_id):
        return ()
    return job_id[:OUTER], job_id[OUTER : OUTER + INNER]


def job_dir(data_dir: Path, job_id: str) -> Path:
    """Where a new job's folder goes."""
    return data_dir.joinpath(JOBS, *shard(job_id), job_id)


def flat_job_dir(data_dir: Path, job_id: str) -> Path:
    """Where data directories of earlier versions kept it."""
    return data_dir / JOBS / job_id


def existing_job_dirs(data_dir: Path, job_id: str) -> list[Path]:
    """Every folder of this job that exists, in either layout."""
    found = []
    for path in dict.fromkeys((job_dir(data_dir, job_id), flat_job_dir(data_dir, job_id))):
        if path.is_dir():
            found.append(path)
    return found


def log_file(data_dir: Path, job_id: str, stored: str | None = None) -> Path:
    """The job's log: where its row says, else wherever one of the layouts has it."""
    candidates = [Path(stored)] if stored else []
    candidates += [job_dir(data_dir, job_id) / LOG_NAME, flat_job_dir(data_dir, job_id) / LOG_NAME]
    for path in candidates:
        if path.is_file():
            return path
    return candidates[0]


def result_file(data_dir: Path, job_id: str) -> Path:
    return data_dir.joinpath(RESULTS, *shard(job_id), f"{job_id}.pkl")


def tidy_job_dir(directory: Path) -> None:
    """After a job's last attempt: drop an empty working directory, an empty log and
    then the folder itself if nothing is left, so a job that wrote nothing leaves
    no inode behind. Never touches anything with content."""
    with contextlib.suppress(OSError):
        (directory / WORK_NAME).rmdir()
    log = directory / LOG_NAME
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


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


def job_files(data_dir: Path, job_id: str, result_path: str | None) -> list[Path]:
    """The files and folders of one job that exist: its folder(s) and its result file.

    Only paths under ``data_dir`` that this layout names for ``job_id`` are ever
    returned, so nothing outside the data directory is deleted whatever a row says."""
    paths = existing_job_dirs(data_dir, job_id)
    results = [result_file(data_dir, job_id), data_dir / RESULTS / f"{job_id}.pkl"]
    if result_path:
        stored = Path(result_path)
        if stored.name == f"{job_id}.pkl" and _inside(stored, data_dir / RESULTS):
            results.insert(0, stored)
    for path in dict.fromkeys(results):
        if path.is_file():
            paths.append(path)
    return paths


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
    for top in (JOBS, RESULTS):
        root = data_dir / top
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
