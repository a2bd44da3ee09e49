"""The CLI against a server: run, jobs, logs, cancel (with --json), and users."""

from __future__ import annotations

import json

from click.testing import CliRunner

from qlambda.cli import main
from qlambda.store import Store


def invoke(*args, **env):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_run_jobs_logs_and_cancel_against_a_server(server, tmp_path):
    script = tmp_path / "work.py"
    script.write_text(
        "import time\n\n"
        "def main(x, label='n'):\n    print(label, x)\n    return {'twice': 2 * x}\n\n"
        "def slow():\n    time.sleep(30)\n"
    )
    env = {"QLAMBDA_URL": server.url, "QLAMBDA_TOKEN": server.tokens["bob"]}
    ran = invoke("run", str(script), "--arg", "x=21", "--arg", "label=answer", "--json", **env)
    assert ran.exit_code == 0, ran.output
    answer = json.loads(ran.output)
    assert answer["result"] == {"twice": 42} and answer["status"] == "DONE"

    listed = json.loads(invoke("jobs", "--json", "--function", "main", **env).output)
    assert answer["id"] in [row["id"] for row in listed]
    assert all(row["owner"] == "bob" for row in listed)

    logs = invoke("logs", answer["id"], "--json", **env)
    assert json.loads(logs.output)["logs"] == "answer 21\n"

    started = invoke("run", f"{script}:slow", "--no-wait", "--json", **env)
    job_id = json.loads(started.output)["id"]
    canceled = json.loads(invoke("cancel", job_id, "--json", **env).output)
    assert canceled["canceled"] is True

    wrong = invoke("run", str(script), "--arg", "y=1", **env)
    assert wrong.exit_code == 1
    assert "unknown argument(s) y; accepted: x, label" in wrong.output
    strangers = invoke("logs", answer["id"], QLAMBDA_URL=server.url, QLAMBDA_TOKEN="qlk_no")
    assert strangers.exit_code == 1 and "unknown or revoked token" in strangers.output


def test_users_create_prints_a_token_once_and_stores_its_hash(tmp_path):
    created = invoke("users", "create", "carol", "--admin", "--data-dir", str(tmp_path))
    token = created.output.strip()
    assert created.exit_code == 0 and token.startswith("qlk_")
    store = Store.open(tmp_path)
    try:
        found = store.user_for_token(token)
        assert {k: found[k] for k in store.get_user("carol")} == {
            **store.get_user("carol"),
            "role": "admin",
        }
        assert found["revoked_at"] is None and found["expires_at"] is None
    finally:
        store.close()
    assert token not in (tmp_path / "qlambda.db").read_bytes().decode(errors="replace")
    again = invoke("users", "create", "carol", "--data-dir", str(tmp_path))
    assert again.exit_code == 1 and "already exists" in again.output
    listed = invoke("users", "list", "--json", "--data-dir", str(tmp_path))
    assert [u["name"] for u in json.loads(listed.output)] == ["carol"]


def test_cancel_needs_a_server():
    result = invoke("cancel", "abc", QLAMBDA_URL="")
    assert result.exit_code == 1 and "--url" in result.output
