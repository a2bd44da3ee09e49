"""A job's timeline from its events, and the SVG charts: what they draw, and that what
users wrote (function names, results, reasons) is text in them, never markup."""

from __future__ import annotations

from qlambda.core.events import Event, EventKind
from qlambda.dashboard import charts, timeline
from qlambda.dashboard.preview import describe
from qlambda.dashboard.whatif_job import summarize
from qlambda.sim import preset, run

T = 1_800_000_000.0


def _events(*items):
    return [Event("j", T + ts, EventKind(kind), data) for ts, kind, data in items]


def test_a_finished_jobs_lanes_and_marks():
    life = timeline.build(
        _events(
            (0, "SUBMITTED", {}),
            (0, "ADMITTED", {}),
            (1, "STARTED", {"attempt": 1}),
            (2, "QPU_QUEUED", {"task": 5, "backend": "torino"}),
            (3, "QPU_STARTED", {"task": 5, "backend": "torino"}),
            (4, "QPU_FINISHED", {"task": 5, "backend": "torino", "outcome": "done"}),
            (4.5, "CHECKPOINT", {"bytes": 12}),
            (6, "DONE", {}),
        ),
        now=T + 100,
    )
    assert life is not None and life.ended and life.end == T + 6
    job, classical, qpu = life.lanes
    assert [(s.kind, s.start - T, s.end - T) for s in job.spans] == [
        ("queued", 0, 1),
        ("running", 1, 6),
    ]
    assert [(s.start - T, s.end - T) for s in classical.spans] == [(1, 2), (4, 6)]
    assert qpu.name == "QPU torino"
    assert [(s.kind, s.start - T, s.end - T) for s in qpu.spans] == [
        ("wait", 2, 3),
        ("execute", 3, 4),
    ]
    assert [m.kind for m in job.marks] == ["admitted", "checkpoint", "end"]
    rows = life.rows()
    assert rows == sorted(rows, key=lambda r: r["start"])


def test_a_running_job_is_drawn_up_to_now_and_a_restart_queues_it_again():
    life = timeline.build(
        _events(
            (0, "SUBMITTED", {}),
            (1, "STARTED", {"attempt": 1}),
            (2, "REQUEUED", {"reason": "the platform restarted"}),
            (3, "STARTED", {"attempt": 2}),
            (4, "QPU_QUEUED", {"task": 1, "backend": "aer"}),
        ),
        now=T + 10,
    )
    assert life is not None and not life.ended and life.end == T + 10
    job, _classical, qpu = life.lanes
    assert [(s.kind, s.start - T, s.end - T, s.open) for s in job.spans] == [
        ("queued", 0, 1, False),
        ("running", 1, 2, False),
        ("queued", 2, 3, False),
        ("running", 3, 10, True),
    ]
    assert [(s.kind, s.open) for s in qpu.spans] == [("wait", True)]
    assert "queued again: the platform restarted" in [m.label for m in job.marks]
    assert timeline.build([], T) is None


def test_what_users_wrote_is_escaped_in_every_chart():
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    life = timeline.build(_events((0, "SUBMITTED", {}), (1, "ERROR", {"reason": evil})), now=T + 2)
    drawn = [
        str(charts.gantt(life)),
        str(charts.bars([evil], [3.0], evil)),
        str(charts.series({evil: [(T, 0.5), (T + 60, 1.0)]}, evil)),
        str(
            charts.boxes(
                [
                    {
                        "name": evil,
                        "boxes": [
                            {"name": evil, "q05": 1, "q25": 2, "q50": 3, "q75": 4, "q95": 5, "n": 9}
                        ],
                    }
                ],
                evil,
            )
        ),
        str(charts.heat_map([evil], [evil], [[0.5]], evil, evil, evil)),
    ]
    for svg in drawn:
        assert "<script" not in svg and "<img" not in svg and "&lt;script&gt;" in svg


def test_result_previews():
    counts = describe({"00": 510, "11": 490})
    assert counts["kind"] == "counts" and counts["outcomes"] == 2 and counts["total"] == 1000
    assert describe({"counts": {"0x0": 3, "0x3": 5}})["kind"] == "counts"
    table = describe([{"a": 1, "b": 2.5}, {"a": 2, "c": "x"}])
    assert table["kind"] == "table" and table["columns"] == ["a", "b", "c"]
    assert table["rows"][1] == ["2", "null", "x"]
    assert describe({"energy": -1.25})["rows"] == [["energy", "-1.25"]]
    assert describe([1, 2, 3])["kind"] == "json"


def test_a_what_if_summary_is_plain_json_with_its_figures():
    import json

    scenario = preset("big-q").override(["Q=1,2", "interarrival=300,900", "duration=6h",
                                         "warmup=30m", "reps=1"])  # fmt: skip
    result = run(scenario, jobs=1, progress=False)
    summary = summarize(scenario, result.summary(), result.replications, result.jobs)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert len(summary["summary"]) == 4
    (heat,) = summary["heat_maps"]
    assert heat["axis"] == "Q" and heat["columns"] == ["1", "2"] and len(heat["rows"]) == 2
    assert [figure["by"] for figure in summary["boxes"]] == ["qubits"]  # one priority
