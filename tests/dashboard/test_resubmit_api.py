"""``POST /jobs/{id}/resubmit``: the API's side of the dashboard's Resubmit button."""

from __future__ import annotations


def test_resubmit_runs_the_same_function_and_arguments_as_a_new_job(server, tools):
    first = tools.submit(server, "alice", "sleeper", seconds=0.05)
    tools.wait_ended(server, "alice", first)
    with server.http(server.tokens["alice"]) as http:
        answer = http.post(f"/jobs/{first}/resubmit")
        assert answer.status_code == 201, answer.text
        again = answer.json()
        assert again["id"] != first and again["function"] == "sleeper"
        assert again["owner"] == "alice"
    assert tools.wait_ended(server, "alice", again["id"])["status"] == "DONE"
    with server.http(server.tokens["alice"]) as http:
        assert http.get(f"/jobs/{again['id']}/result").json()["value"] == [
            {"slept": 0.05, "unit": "s"}
        ]
    with server.http(server.tokens["bob"]) as http:  # not bob's to resubmit
        assert http.post(f"/jobs/{first}/resubmit").status_code == 404
    with server.http(server.tokens["root"]) as http:  # an admin's stays alice's job
        assert http.post(f"/jobs/{first}/resubmit").json()["owner"] == "alice"
