"""Results and logs are bounded: a job cannot fill the disk or the server's memory."""

from __future__ import annotations

import base64

SOURCE = base64.b64encode(
    b"import sys\n\n"
    b"def big(n):\n    return 'x' * n\n\n"
    b"def chatty(lines):\n"
    b"    for i in range(lines):\n"
    b"        print(f'line {i:08d} ' + '.' * 80)\n"
    b"    sys.stderr.write('the end\\n')\n"
    b"    return lines\n"
).decode()


def function(name: str) -> dict:
    return {"name": name, "kind": "source", "content": SOURCE, "entrypoint": f"f.py:{name}"}


def run(http, name: str, **arguments) -> dict:
    job = http.post("/jobs", json={"function": name, "arguments": arguments})
    assert job.status_code == 201, job.text
    return http.get(f"/jobs/{job.json()['id']}/result", params={"wait": 120})


def test_results_and_logs_past_their_caps_are_refused_with_clear_errors(new_server, tmp_path):
    config = tmp_path / "server.toml"
    config.write_text(
        "[platform]\nworkers = 1\nmax_result_bytes = 2_000_000\nmax_log_bytes = 100_000\n"
        "[gateway]\nmax_result_bytes = 1_000_000\n"
    )
    server = new_server("--config", str(config))
    with server.http(server.tokens["alice"]) as alice, server.http(server.tokens["bob"]) as bob:
        for http in (alice, bob):
            assert http.post("/functions", json=function("big")).status_code == 201
            assert http.post("/functions", json=function("chatty")).status_code == 201
        bobs = run(bob, "big", n=1000).json()
        # past the platform's cap: the job ends ERROR, the result is not stored
        answer = run(alice, "big", n=3_000_000).json()
        assert answer["status"] == "ERROR"
        assert answer["reason"].startswith("the result is 2.9 MB, more than the limit of 1.9 MB")
        # stored, but past what the gateway sends: refused with the sizes
        stored = run(alice, "big", n=1_500_000)
        assert stored.status_code == 422
        assert "is 1.4 MB, more than this server sends (1.0 MB" in stored.json()["detail"]
        # a log stops growing at its cap; the function is not blocked by it
        chatty = alice.post("/jobs", json={"function": "chatty", "arguments": {"lines": 20_000}})
        job = chatty.json()["id"]
        result = alice.get(f"/jobs/{job}/result", params={"wait": 120}).json()
        assert result["status"] == "DONE" and result["value"] == 20_000
        logs = alice.get(f"/jobs/{job}/logs").json()
        assert logs["truncated"] is True
        assert logs["logs"].startswith("line 00000000 ")
        assert "the log reached its limit" in logs["logs"] and "the end" not in logs["logs"]
        (log_file,) = (server.data_dir / "jobs").rglob(f"{job}.log")
        on_disk = log_file.stat().st_size
        assert 100_000 <= on_disk < 100_000 + 200  # the cap and a one-line notice
        # a short log is whole
        short = alice.post("/jobs", json={"function": "chatty", "arguments": {"lines": 2}})
        job = short.json()["id"]
        alice.get(f"/jobs/{job}/result", params={"wait": 60})
        logs = alice.get(f"/jobs/{job}/logs").json()
        assert logs["truncated"] is False and logs["logs"].endswith("the end\n")
        # bob's result is intact
        assert bob.get(f"/jobs/{bobs['id']}/result").json()["value"] == "x" * 1000
