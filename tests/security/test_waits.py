"""Result waits hold no thread, and one user's open waits and streams are bounded."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx

SLEEPER = base64.b64encode(
    b"import time\n\ndef sleeps(seconds):\n    time.sleep(seconds)\n    return seconds\n"
).decode()


def register_and_run(http: httpx.Client, seconds: float) -> str:
    function = {
        "name": "sleeps",
        "kind": "source",
        "content": SLEEPER,
        "entrypoint": "sleeps.py:sleeps",
    }
    assert http.post("/functions", json=function).status_code == 201
    answer = http.post("/jobs", json={"function": "sleeps", "arguments": {"seconds": seconds}})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def until_held(http: httpx.AsyncClient, count: int) -> None:
    """Wait until the server holds ``count`` of the caller's waits and streams."""
    deadline = time.monotonic() + 60
    while (await http.get("/me")).json()["open_waits"] != count:
        assert time.monotonic() < deadline, "the waits were never all held"
        await asyncio.sleep(0.05)


def test_sixty_long_waits_by_one_user_do_not_delay_another_users_requests(new_server, tmp_path):
    config = tmp_path / "server.toml"
    config.write_text("[platform]\nworkers = 1\n[gateway]\nmax_waits_per_user = 60\n")
    server = new_server("--config", str(config))
    with server.http(server.tokens["alice"]) as alice:
        job = register_and_run(alice, 120)

    async def attack() -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        headers = {"Authorization": f"Bearer {server.tokens['alice']}"}
        async with (
            httpx.AsyncClient(
                base_url=server.url, headers=headers, limits=limits, timeout=300
            ) as alice,
            httpx.AsyncClient(
                base_url=server.url,
                timeout=30,
                headers={"Authorization": f"Bearer {server.tokens['bob']}"},
            ) as bob,
        ):
            baseline = [(await bob.get("/me")).status_code for _ in range(5)]
            waits = [
                asyncio.create_task(alice.get(f"/jobs/{job}/result", params={"wait": 120}))
                for _ in range(60)
            ]
            await until_held(alice, 60)  # alice's own /me is answered meanwhile
            refused = await alice.get(f"/jobs/{job}/result", params={"wait": 1})
            assert refused.status_code == 429 and "limit is 60" in refused.json()["detail"]
            # all 60 waits are held by the server; bob is answered meanwhile, many times
            during = [(await bob.get("/me")).status_code for _ in range(50)]
            assert not any(task.done() for task in waits)
            assert baseline == [200] * 5 and during == [200] * 50
            # alice's own other requests are answered too
            status = (await alice.get(f"/jobs/{job}")).json()["status"]
            assert status in ("QUEUED", "RUNNING")
            assert (await alice.post(f"/jobs/{job}/cancel")).status_code == 200
            answers = await asyncio.gather(*waits)
            assert {a.json()["status"] for a in answers} == {"CANCELED"}

    asyncio.run(attack())


def test_waits_and_streams_are_capped_per_user_and_others_are_not(new_server):
    server = new_server("--workers", "2")  # default: 20 per user
    with server.http(server.tokens["alice"]) as alice:
        job = register_and_run(alice, 120)
    with server.http(server.tokens["bob"]) as bob:
        bobs = register_and_run(bob, 0)

    async def attack() -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        alice = httpx.AsyncClient(
            base_url=server.url,
            limits=limits,
            timeout=300,
            headers={"Authorization": f"Bearer {server.tokens['alice']}"},
        )
        bob = httpx.AsyncClient(
            base_url=server.url,
            timeout=60,
            headers={"Authorization": f"Bearer {server.tokens['bob']}"},
        )
        async with alice, bob:
            streams = []
            for _ in range(10):  # streams count as waits
                request = alice.build_request("GET", "/stream")
                streams.append(await alice.send(request, stream=True))
            assert all(s.status_code == 200 for s in streams)
            waits = [
                asyncio.create_task(alice.get(f"/jobs/{job}/result", params={"wait": 120}))
                for _ in range(10)
            ]
            await until_held(alice, 20)
            refused = await alice.get(f"/jobs/{job}/result", params={"wait": 1})
            assert refused.status_code == 429 and "limit is 20" in refused.json()["detail"]
            stream = await alice.get(f"/jobs/{job}/stream")
            assert stream.status_code == 429
            # bob's waits are his own
            answer = await bob.get(f"/jobs/{bobs}/result", params={"wait": 60})
            assert answer.json()["value"] == 0
            # closing streams gives the slots back
            for s in streams:
                await s.aclose()
            await until_held(alice, 10)
            again = await alice.get(f"/jobs/{job}/result", params={"wait": 0.1})
            assert again.status_code == 409  # waited, and the job has not ended
            await alice.post(f"/jobs/{job}/cancel")
            assert {(await w).json()["status"] for w in waits} == {"CANCELED"}

    asyncio.run(attack())
