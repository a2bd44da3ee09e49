"""The HTTP service through the remote client and raw HTTP, against a real server."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import zipfile

import httpx
import pytest

import qlambda
from qlambda import JobFailedError, JobStatus
from qlambda.core.errors import AuthenticationError, InvalidRequestError
from qlambda.core.events import EventKind


class Measured:
    def __init__(self, value):
        self.value = value


@qlambda.function(name="measured")
def measured(ctx, x, scale=2):
    ctx.status("scaling")
    print("scaling", x)
    return Measured(x * scale)


def sleeps(seconds):
    time.sleep(seconds)
    return seconds


def fails(message):
    raise RuntimeError(message)


def user_script(client):
    """The same script against the embedded and the remote client."""
    job = client.run(measured, x=4, scale=3)
    value = job.result(60).value
    kinds = [e.kind for e in job.events()]
    failed = client.run(fails, message="boom")
    with pytest.raises(JobFailedError, match="RuntimeError: boom") as caught:
        failed.result(60)
    return {
        "value": value,
        "status": job.status(),
        "logs": job.logs(),
        "first_and_last": (kinds[0], kinds[-1]),
        "traceback_names_the_function": "fails" in (caught.value.remote_traceback or ""),
        "listed": job.id in [j.id for j in client.jobs(status="DONE")],
        "info_function": job.info().function,
    }


def test_a_script_gives_the_same_answers_embedded_and_remote(server, tmp_path):
    with qlambda.Client(server.url, token=server.tokens["alice"]) as remote:
        over_http = user_script(remote)
    with qlambda.Client(data_dir=tmp_path, workers=1) as embedded:
        in_process = user_script(embedded)
    assert over_http == in_process
    assert over_http["value"] == 12 and over_http["logs"] == "scaling 4\n"
    assert over_http["first_and_last"] == (EventKind.SUBMITTED, EventKind.DONE)


def test_result_is_pushed_by_a_held_request_not_polled(server):
    with qlambda.Client(server.url, token=server.tokens["alice"]) as client:
        job = client.run(sleeps, seconds=1.5)
        requests: list[tuple[str, str]] = []
        client._http.event_hooks["request"].append(
            lambda r: requests.append((r.url.path, r.url.params.get("wait", "")))
        )
        assert job.result(60) == 1.5
    # one request held until the job ended (the time left, at most), then the result
    assert [path for path, _ in requests] == [f"/jobs/{job.id}", f"/jobs/{job.id}/result"]
    assert 50 < float(requests[0][1]) <= 60


def test_the_user_stream_tells_each_user_only_of_their_own_jobs(server):
    seen: dict[str, list[dict]] = {"alice": [], "bob": []}
    subscribed = threading.Barrier(3)

    def listen(user):
        with (
            server.http(server.tokens[user]) as http,
            http.stream("GET", "/stream", timeout=httpx.Timeout(60)) as response,
        ):
            assert response.status_code == 200
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    if kind == "subscribed":
                        subscribed.wait(30)
                        continue
                    data = json.loads(line.removeprefix("data: "))
                    seen[user].append(data)
                    if data["event"] == "ended":
                        return

    threads = [threading.Thread(target=listen, args=(u,)) for u in ("alice", "bob")]
    for thread in threads:
        thread.start()
    subscribed.wait(30)
    with qlambda.Client(server.url, token=server.tokens["alice"]) as alice:
        first = alice.run(sleeps, seconds=0.1)
        first.result(60)
    with qlambda.Client(server.url, token=server.tokens["bob"]) as bob:
        second = bob.run(sleeps, seconds=0.1)
        second.result(60)
    for thread in threads:
        thread.join(60)
    assert [(t["id"], t["event"]) for t in seen["alice"]] == [
        (first.id, "submitted"),
        (first.id, "started"),
        (first.id, "ended"),
    ]
    assert {t["id"] for t in seen["bob"]} == {second.id}
    assert seen["alice"][-1]["status"] == "DONE"


def test_users_see_and_cancel_only_their_own_jobs_and_admins_see_all(server):
    alice = qlambda.Client(server.url, token=server.tokens["alice"])
    job = alice.run(sleeps, seconds=30)
    with server.http(server.tokens["bob"]) as bob:
        for method, path in [
            ("GET", f"/jobs/{job.id}"),
            ("GET", f"/jobs/{job.id}/result"),
            ("GET", f"/jobs/{job.id}/logs"),
            ("GET", f"/jobs/{job.id}/events"),
            ("GET", f"/jobs/{job.id}/stream"),
            ("POST", f"/jobs/{job.id}/cancel"),
        ]:
            answer = bob.request(method, path)
            assert answer.status_code == 404, (method, path)
            assert "among yours" in answer.json()["detail"]
        assert job.id not in [row["id"] for row in bob.get("/jobs").json()]
        assert bob.get("/jobs", params={"owner": "alice"}).status_code == 403
        assert {f["owner"] for f in bob.get("/functions").json()} <= {"bob"}
        assert bob.post("/users", json={"name": "eve"}).status_code == 403
    assert job.status() in (JobStatus.QUEUED, JobStatus.RUNNING)
    with qlambda.Client(server.url, token=server.tokens["root"]) as root:
        assert job.id in [j.id for j in root.jobs()]
        assert root.job(job.id).cancel() is True
    assert job.wait(60) and job.status() is JobStatus.CANCELED
    alice.close()


def test_tokens_are_required_and_admins_create_users(server):
    with server.http(None) as anonymous:
        for path in ("/jobs", "/backends", "/functions", "/me", "/stream"):
            answer = anonymous.get(path)
            assert answer.status_code == 401 and "Bearer" in answer.json()["detail"]
    with server.http("qlk_not-a-token") as stranger:
        assert stranger.get("/jobs").status_code == 401
    with pytest.raises(AuthenticationError):
        qlambda.Client(server.url, token="qlk_wrong").jobs()
    with server.http(server.tokens["root"]) as root:
        created = root.post("/users", json={"name": "dave"})
        assert created.status_code == 201
        token = created.json()["token"]
        assert root.post("/users", json={"name": "dave"}).status_code == 409
    with server.http(token) as dave:
        assert dave.get("/me").json()["name"] == "dave"
        assert dave.get("/jobs").json() == []


def test_backends_are_listed_with_their_queues(server):
    with qlambda.Client(server.url, token=server.tokens["bob"]) as client:
        backends = client.backends()
    assert backends and {"backend", "pending", "running", "slots"} <= set(backends[0])


def _register(http, **body):
    return http.post("/functions", json=body)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_source_files_and_zipped_folders_are_registered_and_run(server):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("pkg/helpers.py", "def double(v):\n    return 2 * v\n")
        bundle.writestr(
            "pkg/main.py", "from helpers import double\n\ndef run(n):\n    return double(n)\n"
        )
    source = b"def greet(name, punctuation='!'):\n    return 'hello ' + name + punctuation\n"
    with server.http(server.tokens["bob"]) as http:
        zipped = _register(
            http,
            name="doubler",
            kind="zip",
            content=_b64(archive.getvalue()),
            entrypoint="pkg/main.py:run",
        )
        assert zipped.status_code == 201, zipped.text
        assert zipped.json()["parameters"] == [
            {"name": "n", "kind": "POSITIONAL_OR_KEYWORD", "required": True}
        ]
        plain = _register(
            http,
            name="greet",
            kind="source",
            content=_b64(source),
            entrypoint="greet.py:greet",
            dependencies=["numpy>=2"],
        )
        assert plain.status_code == 201, plain.text
        assert {f["name"] for f in http.get("/functions").json()} >= {"doubler", "greet"}
    with qlambda.Client(server.url, token=server.tokens["bob"]) as client:
        assert client.run("doubler", n=21).result(60) == 42
        assert client.run("greet", name="bob").result(60) == "hello bob!"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"kind": "source", "content": _b64(b"def f(:\n"), "entrypoint": "f.py:f"},
            422,
            "not valid Python: line 1",
        ),
        (
            {"kind": "source", "content": _b64(b"def g():\n    pass\n"), "entrypoint": "f.py:f"},
            422,
            "defines no top-level function 'f'; it defines: g",
        ),
        (
            {"kind": "source", "content": _b64(b"x"), "entrypoint": "f.py"},
            422,
            "'file.py:function'",
        ),
        (
            {"kind": "source", "content": _b64(b"x"), "entrypoint": "../f.py:f"},
            422,
            "is not accepted",
        ),
        ({"kind": "source", "content": "not base64!", "entrypoint": "f.py:f"}, 422, "base64"),
        (
            {"kind": "zip", "content": _b64(b"PK not a zip"), "entrypoint": "m.py:f"},
            422,
            "not a zip archive",
        ),
        (
            {
                "kind": "source",
                "content": _b64(b"def f(): pass"),
                "entrypoint": "f.py:f",
                "dependencies": ["surely-not-installed-pkg>=1"],
            },
            422,
            "surely-not-installed-pkg is not installed",
        ),
        (
            {
                "kind": "source",
                "content": _b64(b"def f(): pass"),
                "entrypoint": "f.py:f",
                "dependencies": ["numpy<1"],
            },
            422,
            "does not satisfy 'numpy<1'",
        ),
        (
            {
                "kind": "source",
                "content": _b64(b"def f(): pass"),
                "entrypoint": "f.py:f",
                "dependencies": ["numpy >>> 2"],
            },
            422,
            "not a valid requirement",
        ),
        (
            {
                "kind": "source",
                "content": _b64(b"def f(): pass"),
                "entrypoint": "f.py:f",
                "colour": "blue",
            },
            422,
            "colour: unknown field",
        ),
        ({"kind": "cobol", "content": "", "entrypoint": "f.py:f"}, 422, "kind"),
        (
            {
                "kind": "source",
                "content": _b64(b"def f(): pass"),
                "entrypoint": "f.py:f",
                "cpus": 4096,
            },
            422,
            "cpus",
        ),
        (
            {"kind": "pickle", "content": _b64(b"x"), "parameters": [{"name": "x"}]},
            422,
            "each is {name: str, kind: one of",
        ),
    ],
)
def test_bad_uploads_are_refused_saying_what_is_accepted(server, body, status, message):
    with server.http(server.tokens["alice"]) as http:
        answer = _register(http, name="bad", **body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


def test_oversize_uploads_are_refused_before_they_are_read(server):
    huge = _b64(b"#" * (11 * 1024 * 1024))
    with server.http(server.tokens["alice"]) as http:
        answer = _register(http, name="huge", kind="source", content=huge, entrypoint="h.py:h")
        assert answer.status_code == 413
        assert "larger than" in answer.json()["detail"]
        chunks = (b"x" * (1 << 20) for _ in range(20))  # no Content-Length: counted as read
        chunked = http.post(
            "/functions", content=chunks, headers={"Content-Type": "application/json"}
        )
        assert chunked.status_code == 413
        assert http.get("/me").status_code == 200  # still serving


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"function": "sleeps", "arguments": {"seconds": 0}', "not valid JSON"),
        ('{"function": "sleeps", "arguments": [1, 2]}', "arguments: Input should be a valid dict"),
        ('{"function": "sleeps", "priority": "high"}', "priority"),
        ('{"function": "sleeps", "priority": -1}', "priority: Input should be greater than 0"),
        ('{"function": "sleeps", "priority": true}', "priority"),
        ('{"function": "sleeps", "arguments": {}}', "missing required argument(s) seconds"),
        (
            '{"function": "sleeps", "arguments": {"seconds": 0, "extra": 1}}',
            "unknown argument(s) extra; accepted: seconds",
        ),
        ('{"function": "sleeps", "argumentz": {}}', "argumentz: unknown field"),
        ('{"function": "no-such-function"}', "no function named 'no-such-function'"),
        ("[]", "Input should be a valid dictionary"),
    ],
)
def test_bad_submissions_get_a_4xx_that_says_what_was_wrong(server, payload, message):
    with qlambda.Client(server.url, token=server.tokens["alice"]) as client:
        client.register(sleeps)
    with server.http(server.tokens["alice"]) as http:
        answer = http.post("/jobs", content=payload, headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert message in answer.json()["detail"]


def test_unknown_jobs_query_parameters_and_endpoints_are_4xx(server):
    with server.http(server.tokens["alice"]) as http:
        assert http.get("/jobs/nope").status_code == 404
        assert "unknown query parameter(s) colour" in http.get("/jobs?colour=1").json()["detail"]
        assert "unknown job status 'LATE'" in http.get("/jobs?status=LATE").json()["detail"]
        assert http.get("/jobs?limit=0").status_code == 422
        assert http.get("/nowhere").status_code == 404
        assert http.delete("/jobs").status_code == 405
    with (
        qlambda.Client(server.url, token=server.tokens["alice"]) as client,
        pytest.raises(KeyError, match="no job with id 'nope'"),
    ):
        client.job("nope")
    with (
        qlambda.Client(server.url, token=server.tokens["alice"]) as client,
        pytest.raises(InvalidRequestError, match="unknown argument"),
    ):
        client.run(sleeps, secs=1)


def test_jobs_are_listed_with_filters_and_pages(server):
    with qlambda.Client(server.url, token=server.tokens["bob"]) as client:
        ids = [client.run(sleeps, seconds=0).id for _ in range(5)]
        for job_id in ids:
            client.job(job_id).wait(60)
        newest = [j.id for j in client.jobs(limit=3, function="sleeps")]
        following = [j.id for j in client.jobs(limit=3, offset=3, function="sleeps")]
    assert newest == ids[::-1][:3]
    assert following[:2] == ids[::-1][3:5]


def test_page_offsets_past_any_integer_range_are_refused_not_a_fault(server):
    with server.http(server.tokens["alice"]) as http:
        answer = http.get("/jobs", params={"offset": 2**70})
        assert answer.status_code == 422 and "offset" in answer.text
        logs = http.get("/jobs/nope/logs", params={"offset": 2**70})
        assert logs.status_code == 422
