"""The retention policy: how long ended jobs, and their outputs, are kept.

Per final status (DONE, ERROR, CANCELED, DROPPED) a rule says:

- ``max_age``: a job that ended longer ago than this is deleted whole: its row,
  events, quantum tasks, checkpoint, result (inline or file), log and folder;
- ``max_jobs``: only the newest this many are kept; older ones are deleted whole;
- ``output_max_age``: past this, only the bulky part goes (result, log, working
  folder, checkpoint, stored arguments); the row, its events and quantum tasks stay,
  so the job still lists with its status, reason and times, and ``result()`` says
  the result was deleted.

Queued and running jobs are never touched, nor anything of a status without a rule.
Deletion goes in batches, each a short transaction through the store's writer. A
batch's rows are first marked (result and checkpoint dropped, ``output_deleted_at``
set), so that readers are told the result was deleted rather than finding a file
missing; then its files go; then, for jobs deleted whole, its rows. A pass stopped
halfway leaves rows that the next pass finds again, and a job's files are always
found from its id, so nothing is left that no pass would delete.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlambda.core.errors import ConfigurationError
from qlambda.core.states import JobStatus
from qlambda.platform import layout
from qlambda.platform.units import parse_age
from qlambda.store import retention as db

log = logging.getLogger(__name__)

FINAL = tuple(s.value for s in JobStatus if s.is_final)
RULE_KEYS = ("max_age", "max_jobs", "output_max_age")
POLICY_KEYS = ("enabled", "interval", "batch_size")
DEFAULT_INTERVAL = 600.0
DEFAULT_BATCH = 200
_FAR_FUTURE = 1e300  # a position after every job's end
Position = tuple[float, str]  # (ended_at, id): how ended jobs are ordered
FILE_THREADS = 8


@dataclass(frozen=True)
class Rule:
    """How long ended jobs of one status are kept; None: no limit of that kind."""

    max_age: float | None = None  # seconds since the job ended; then the whole job goes
    max_jobs: int | None = None  # the newest kept; older ones go whole
    output_max_age: float | None = None  # then its result, log and folder go; the row stays

    def __post_init__(self) -> None:
        count = self.max_jobs
        if count is not None and (type(count) is not int or count < 0):
            raise ConfigurationError(f"max_jobs must be an integer, 0 or more, not {count!r}")
        if (
            self.output_max_age is not None
            and self.max_age is not None
            and self.output_max_age >= self.max_age
        ):
            raise ConfigurationError(
                f"output_max_age ({describe_age(self.output_max_age)}) must be shorter than "
                f"max_age ({describe_age(self.max_age)}): the whole job goes at max_age"
            )

    @property
    def keeps_everything(self) -> bool:
        return self.max_age is None and self.max_jobs is None and self.output_max_age is None

    @classmethod
    def from_mapping(cls, status: str, table: Mapping[str, Any]) -> Rule:
        if not isinstance(table, Mapping):
            raise ConfigurationError(
                f"[retention.{status}] must be a table of {', '.join(RULE_KEYS)}"
            )
        unknown = set(table) - set(RULE_KEYS)
        if unknown:
            raise ConfigurationError(
                f"unknown [retention.{status}] setting(s) {sorted(unknown)}; "
                f"accepted: {', '.join(RULE_KEYS)}"
            )
        try:
            return cls(
                max_age=_age(table.get("max_age"), "max_age"),
                max_jobs=table.get("max_jobs"),
                output_max_age=_age(table.get("output_max_age"), "output_max_age"),
            )
        except (ValueError, ConfigurationError) as exc:
            raise ConfigurationError(f"[retention.{status}]: {exc}") from None


@dataclass(frozen=True)
class RetentionPolicy:
    """Rules by final status (statuses without one are kept), and how often the platform
    applies them (``interval`` seconds; None: only by ``qlambda retention apply``)."""

    rules: Mapping[str, Rule] = field(default_factory=dict)
    interval: float | None = DEFAULT_INTERVAL
    batch_size: int = DEFAULT_BATCH

    def __post_init__(self) -> None:
        unknown = set(self.rules) - set(FINAL)
        if unknown:
            raise ConfigurationError(
                f"retention rules apply to ended jobs only: {', '.join(FINAL)}; "
                f"not {', '.join(sorted(unknown))} (queued and running jobs are never deleted)"
            )
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigurationError(f"batch_size must be an integer, not {self.batch_size!r}")
        if not 1 <= self.batch_size <= 10_000:
            raise ConfigurationError(f"batch_size must be 1 to 10000, not {self.batch_size}")
        if self.interval is not None and self.interval < 1:
            raise ConfigurationError(
                f"interval must be at least 1 s (0 for never), not {self.interval:g} s"
            )
        # a read-only copy: the policy is shared between threads
        object.__setattr__(self, "rules", {s: self.rules[s] for s in FINAL if s in self.rules})

    @property
    def keeps_everything(self) -> bool:
        return all(rule.keeps_everything for rule in self.rules.values())

    def rule(self, status: str) -> Rule:
        return self.rules.get(status, Rule())

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], base: RetentionPolicy | None = None
    ) -> RetentionPolicy:
        """From a ``[retention]`` table. A status's table replaces that status's rule in
        ``base`` (keys left out: no limit of that kind); other statuses keep ``base``'s."""
        if isinstance(table, RetentionPolicy):
            return table
        if not isinstance(table, Mapping):
            raise ConfigurationError("[retention] must be a table")
        base = base or KEEP_EVERYTHING
        by_status: dict[str, Any] = {}
        unknown = []
        for key, value in table.items():
            if key in POLICY_KEYS:
                continue
            if str(key).upper() in (s.value for s in JobStatus):
                by_status[str(key).upper()] = value
            else:
                unknown.append(key)
        if unknown:
            raise ConfigurationError(
                f"unknown [retention] setting(s) {sorted(unknown)}; "
                f"accepted: {', '.join(POLICY_KEYS)} and a table per status "
                f"({', '.join(FINAL)})"
            )
        unfinished = sorted(set(by_status) - set(FINAL))
        if unfinished:
            raise ConfigurationError(
                f"[retention.{unfinished[0]}]: queued and running jobs are never deleted; "
                f"rules are accepted for {', '.join(FINAL)}"
            )
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"[retention] enabled must be true or false, not {enabled!r}")
        if not enabled:
            if by_status:
                raise ConfigurationError(
                    "[retention] enabled = false keeps every job: remove the status tables, "
                    "or enabled"
                )
            return KEEP_EVERYTHING
        rules = dict(base.rules)
        for status, rule in by_status.items():
            rules[status] = Rule.from_mapping(status, rule)
        interval: float | None = base.interval if base.interval is not None else DEFAULT_INTERVAL
        if "interval" in table:
            try:
                interval = _age(table["interval"], "interval") or None
            except ValueError as exc:
                raise ConfigurationError(f"[retention]: {exc}") from None
        return cls(rules, interval, table.get("batch_size", base.batch_size))

    def to_mapping(self) -> dict[str, Any]:
        """The policy as a ``[retention]`` table would write it (ages in seconds)."""
        table: dict[str, Any] = {"interval": self.interval or 0, "batch_size": self.batch_size}
        for status, rule in self.rules.items():
            table[status] = {k: getattr(rule, k) for k in RULE_KEYS if getattr(rule, k) is not None}
        return table


DAY = 86400.0
KEEP_EVERYTHING = RetentionPolicy({}, interval=None)
SERVER_DEFAULT = RetentionPolicy(
    {
        "DONE": Rule(max_age=7 * DAY, max_jobs=1_000_000),
        "ERROR": Rule(max_age=30 * DAY, max_jobs=100_000),
        "CANCELED": Rule(max_age=1 * DAY, max_jobs=100_000),
        "DROPPED": Rule(max_age=1 * DAY, max_jobs=100_000),
    },
    interval=DEFAULT_INTERVAL,
)
"""What ``qlambda serve`` applies unless its configuration's ``[retention]`` says otherwise."""


def server_policy(table: Mapping[str, Any] | None) -> RetentionPolicy:
    """The policy a server applies: ``SERVER_DEFAULT``, changed by its ``[retention]`` table."""
    return SERVER_DEFAULT if table is None else RetentionPolicy.from_mapping(table, SERVER_DEFAULT)


def _age(value: Any, what: str) -> float | None:
    return None if value is None else parse_age(value, what)


def describe_age(seconds: float | None) -> str:
    if seconds is None:
        return "forever"
    for unit, size in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


# ------------------------------------------------------------------ applying it


@dataclass
class StatusReport:
    """What went (or would go) of one status."""

    jobs: int = 0  # deleted whole
    outputs: int = 0  # output deleted, row kept
    events: int = 0
    quantum_tasks: int = 0
    stored_bytes: int = 0  # inline results, arguments, checkpoints in the database
    file_bytes: int = 0  # results, logs and working folders on disk

    def add(self, **counts: int) -> None:
        for key, value in counts.items():
            setattr(self, key, getattr(self, key) + value)


@dataclass
class RetentionReport:
    dry_run: bool
    statuses: dict[str, StatusReport] = field(default_factory=dict)
    skipped_live: int = 0  # ended in the store, still finishing in the platform
    folders_removed: int = 0  # empty shard folders
    seconds: float = 0.0
    stopped: bool = False  # the pass was interrupted (the platform is closing)

    @property
    def total(self) -> StatusReport:
        total = StatusReport()
        for part in self.statuses.values():
            total.add(**vars(part))
        return total

    def to_mapping(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "statuses": {s: vars(r) for s, r in self.statuses.items()},
            "skipped_live": self.skipped_live,
            "folders_removed": self.folders_removed,
            "seconds": round(self.seconds, 3),
        }


def apply_policy(
    store: Any,
    data_dir: str | Path,
    policy: RetentionPolicy,
    *,
    now: float | None = None,
    dry_run: bool = False,
    live: Callable[[], Collection[str]] = frozenset,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """Apply ``policy`` to the jobs of ``store`` and their files under ``data_dir``.

    ``live``: ids of jobs the platform is still finishing (skipped, taken next time);
    ``stop``: set to end the pass between batches; ``progress(n)``: jobs handled so far.
    A dry run deletes nothing and reports what would go.
    """
    started = time.monotonic()
    now = time.time() if now is None else now
    run = _Pass(store, Path(data_dir), policy, now, dry_run, live, stop or threading.Event())
    run.progress = progress
    try:
        # first whole jobs, then outputs of those left (in a dry run: of those past them)
        deleted_before = {s: run.delete_whole(s, r) for s, r in policy.rules.items()}
        for status, rule in policy.rules.items():
            if rule.output_max_age is not None:
                run.delete_outputs(status, rule.output_max_age, deleted_before[status])
    finally:
        run.files.shutdown()
    report = run.report
    report.stopped = run.stop.is_set()
    if not dry_run and not report.stopped:
        report.folders_removed = _remove_empty_shards(store, run.data_dir, now, live())
    report.seconds = time.monotonic() - started
    return report


class _Pass:
    """One application of a policy: batches of candidates, their files, their rows."""

    def __init__(
        self,
        store: Any,
        data_dir: Path,
        policy: RetentionPolicy,
        now: float,
        dry_run: bool,
        live: Callable[[], Collection[str]],
        stop: threading.Event,
    ) -> None:
        self.store, self.data_dir, self.policy, self.now = store, data_dir, policy, now
        self.dry_run, self.live, self.stop = dry_run, live, stop
        self.report = RetentionReport(dry_run)
        self.progress: Callable[[int], None] | None = None
        self.handled = 0
        # Removing a folder waits on the disk (milliseconds with the discard mount
        # option): several at once go about ten times faster.
        self.files = ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="qlambda-retention")

    def delete_whole(self, status: str, rule: Rule) -> Position | None:
        """Delete the jobs of ``status`` past the rule's age or count; returns the
        position before which they went (None: the rule deletes no job whole)."""
        part = self.report.statuses.setdefault(status, StatusReport())
        before = _delete_position(self.store, status, rule, self.now)
        if before is None:
            return None
        for chosen in self._batches(status, before):
            ids = [c.id for c in chosen]
            part.add(stored_bytes=sum(c.stored_bytes for c in chosen))
            if self.dry_run:
                counts = db.related(self.store, ids)
                part.add(jobs=len(ids), file_bytes=self._clear(chosen))
            else:
                db.delete_outputs(self.store, ids, self.now)  # readers now hear it is deleted
                part.add(file_bytes=self._clear(chosen))
                counts = db.delete_jobs(self.store, ids)
                part.add(jobs=counts["jobs"])
            part.add(events=counts["events"], quantum_tasks=counts["quantum_tasks"])
        return before

    def delete_outputs(self, status: str, max_age: float, deleted: Position | None) -> None:
        """Delete the outputs of the jobs of ``status`` that ended more than ``max_age``
        ago and are still there (a dry run starts past those it would delete whole)."""
        part = self.report.statuses[status]
        start = deleted if self.dry_run else None
        for chosen in self._batches(status, (self.now - max_age, ""), start, output_kept=True):
            part.add(stored_bytes=sum(c.stored_bytes for c in chosen))
            if not self.dry_run:
                marked = set(db.delete_outputs(self.store, [c.id for c in chosen], self.now)["ids"])
                chosen = [c for c in chosen if c.id in marked]
            part.add(outputs=len(chosen), file_bytes=self._clear(chosen))

    def _batches(
        self,
        status: str,
        before: Position,
        from_: Position | None = None,
        output_kept: bool = False,
    ) -> Iterator[list[Any]]:
        """Pages of candidates, oldest first, without the jobs still finishing."""
        after = None
        while not self.stop.is_set():
            page = db.candidates(
                self.store,
                status,
                before=before,
                after=after,
                from_=from_,
                output_kept=output_kept,
                limit=self.policy.batch_size,
            )
            if not page:
                return
            after = (page[-1].ended_at, page[-1].id)
            busy = set(self.live())
            chosen = [c for c in page if c.id not in busy]
            self.report.skipped_live += len(page) - len(chosen)
            if chosen:
                yield chosen
            self.handled += len(page)
            if self.progress is not None:
                self.progress(self.handled)

    def _clear(self, chosen: list[Any]) -> int:
        """Bytes of the chosen jobs' files, which go unless this is a dry run."""
        paths = [
            path
            for c in chosen
            for path in layout.job_files(self.data_dir, c.id, c.result_path, c.owner)
        ]
        work = _measure if self.dry_run else _measure_and_remove
        return sum(self.files.map(work, paths))


def _delete_position(store: Any, status: str, rule: Rule, now: float) -> Position | None:
    """Jobs positioned before this go whole: past max_age, or past the max_jobs newest."""
    positions = []
    if rule.max_age is not None:
        positions.append((now - rule.max_age, ""))
    if rule.max_jobs is not None:
        if rule.max_jobs == 0:
            positions.append((_FAR_FUTURE, ""))
        else:
            nth = db.nth_newest(store, status, rule.max_jobs)
            if nth is not None:
                positions.append(nth)
    return max(positions) if positions else None


def _measure(path: Path) -> int:
    return layout.tree_size(path)


def _measure_and_remove(path: Path) -> int:
    size = layout.tree_size(path)
    layout.remove(path)
    return size


def _remove_empty_shards(store: Any, data_dir: Path, now: float, live: Collection[str]) -> int:
    """Empty shard folders older than an hour and than every unfinished job go too."""
    hour_ago = f"{int((now - 3600) * 1000):011x}"
    oldest = [hour_ago, *live]
    unfinished = db.oldest_unfinished_id(store)
    if unfinished:
        oldest.append(unfinished)
    return layout.remove_empty_shards(data_dir, min(oldest))


class RetentionRunner:
    """Applies a policy now and then every ``policy.interval`` seconds, on a thread of
    its own; each batch is a short write through the store's writer."""

    def __init__(
        self,
        store: Any,
        data_dir: Path,
        policy: RetentionPolicy,
        live: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        if policy.interval is None:
            raise ValueError("a policy without an interval is applied by the command only")
        self.store = store
        self.data_dir = data_dir
        self.policy = policy
        self.live = live
        self.passes = 0
        self.last: RetentionReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qlambda-retention", daemon=True)

    def start(self) -> RetentionRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _loop(self) -> None:
        assert self.policy.interval is not None
        while not self._stop.is_set():
            try:
                report = apply_policy(
                    self.store, self.data_dir, self.policy, live=self.live, stop=self._stop
                )
            except Exception:
                log.exception("applying the retention policy failed; trying again next time")
            else:
                self.last = report
                total = report.total
                if total.jobs or total.outputs:
                    log.info(
                        "retention: deleted %d jobs and the outputs of %d in %.1f s",
                        total.jobs,
                        total.outputs,
                        report.seconds,
                    )
            self.passes += 1
            self._stop.wait(self.policy.interval)
