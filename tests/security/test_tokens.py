"""Revoked and expired tokens stop working at once; other users' tokens and data stay."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from qlambda.cli import main


def cli(*args: str, database_url: str | None) -> str:
    env = {"QLAMBDA_DATABASE_URL": database_url} if database_url else {}
    done = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.output


def sleeps(seconds):
    time.sleep(seconds)
    return seconds


def test_a_token_revoked_by_the_cli_is_refused_at_the_next_request(new_server, database_url):
    server = new_server("--workers", "1", database_url=database_url)
    data = str(server.data_dir)
    alice, bob = server.http(server.tokens["alice"]), server.http(server.tokens["bob"])
    with bob:
        register = {
            "name": "f",
            "kind": "source",
            "content": "ZGVmIGYoKTogcmV0dXJuIDEK",
            "entrypoint": "f.py:f",
        }
        assert bob.post("/functions", json=register).status_code == 201
        bobs_job = bob.post("/jobs", json={"function": "f"}).json()["id"]
        with alice:
            for _ in range(3):  # cached by now
                assert alice.get("/me").status_code == 200
            out = cli("users", "revoke", "alice", "--data-dir", data, database_url=database_url)
            assert "revoked 1 token(s) of alice" in out
            refused = alice.get("/me")
            assert refused.status_code == 401
            assert "was revoked" in refused.json()["detail"]
            assert alice.post("/jobs", json={"function": "f"}).status_code == 401
        # bob is untouched: his token, his job
        assert bob.get("/me").json()["name"] == "bob"
        assert bob.get(f"/jobs/{bobs_job}/result", params={"wait": 60}).json()["value"] == 1
    # a new token for alice works; the revoked one stays refused
    fresh = cli("users", "token", "alice", "--data-dir", data, database_url=database_url).strip()
    with server.http(fresh) as again:
        assert again.get("/me").json()["name"] == "alice"
    listed = json.loads(
        cli("users", "tokens", "alice", "--json", "--data-dir", data, database_url=database_url)
    )
    assert [row["revoked_at"] is not None for row in listed] == [True, False]


def test_one_token_is_revoked_through_the_api_and_users_cannot_revoke_others(
    new_server, database_url
):
    server = new_server("--workers", "1", database_url=database_url)
    data = str(server.data_dir)
    second = cli("users", "token", "alice", "--data-dir", data, database_url=database_url).strip()
    with (
        server.http(server.tokens["alice"]) as alice,
        server.http(second) as alice_again,
        server.http(server.tokens["bob"]) as bob,
        server.http(server.tokens["root"]) as root,
    ):
        assert alice_again.get("/me").status_code == 200
        # a user may not list or revoke another user's tokens
        assert bob.get("/users/alice/tokens").status_code == 403
        assert bob.delete("/users/alice/tokens").status_code == 403
        assert alice.get("/me").status_code == 200 and alice_again.get("/me").status_code == 200
        tokens = root.get("/users/alice/tokens").json()
        assert len(tokens) == 2 and all(len(row["id"]) == 12 for row in tokens)
        newest = tokens[1]["id"]
        answer = root.delete(f"/users/alice/tokens/{newest[:8]}")
        assert answer.status_code == 200 and answer.json()["revoked"] == [newest]
        assert alice_again.get("/me").status_code == 401  # at once, though it was cached
        assert alice.get("/me").status_code == 200  # the other token still works
        assert root.delete("/users/alice/tokens/zzzzzzzz").status_code == 404
        # a user revokes their own tokens
        assert bob.delete("/users/bob/tokens").json()["user"] == "bob"
        assert bob.get("/me").status_code == 401
        assert alice.get("/me").status_code == 200


def test_an_expired_token_gets_401_saying_it_expired(new_server, database_url):
    server = new_server("--workers", "1", database_url=database_url)
    data = str(server.data_dir)
    short = cli(
        "users", "token", "alice", "--expires", "3s", "--data-dir", data, database_url=database_url
    ).strip()
    with server.http(short) as alice, server.http(server.tokens["bob"]) as bob:
        assert alice.get("/me").status_code == 200  # cached from here on
        deadline = time.monotonic() + 30
        while (answer := alice.get("/me")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer.status_code == 401
        assert "expired at" in answer.json()["detail"]
        assert bob.get("/me").status_code == 200
    with server.http(server.tokens["alice"]) as alice:
        assert alice.get("/me").status_code == 200  # alice's token without expiry


def test_bad_expiries_are_refused_with_what_is_accepted(tmp_path):
    done = CliRunner().invoke(
        main, ["users", "create", "carol", "--expires", "soon", "--data-dir", str(tmp_path)]
    )
    assert done.exit_code == 2 and "30d, 12h, 90m" in done.output
