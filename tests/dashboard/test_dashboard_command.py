"""``qlambda dashboard``: the dashboard over an embedded platform's data directory, with a
login token for the admin ``local`` that works only while the command runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

import qlambda
from qlambda.store import Store

pytestmark = pytest.mark.timeout(300)


def double(x):
    return 2 * x


def test_the_dashboard_of_an_embedded_platforms_jobs(tmp_path):
    data = tmp_path / "data"
    with qlambda.Client(data_dir=str(data), workers=1) as client:
        job = client.run(qlambda.Function("double", double), x=21)
        assert job.result(timeout=120) == 42
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "qlambda.cli", "dashboard", "--data-dir", str(data),
         "--port", "0", "--ready-file", str(ready), "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "QLAMBDA_DATABASE_URL"},
    )  # fmt: skip
    try:
        assert "log in as local" in process.stdout.readline()
        token = process.stdout.readline().strip()
        deadline = time.monotonic() + 120
        while not (ready.exists() and ready.read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        url = f"http://127.0.0.1:{ready.read_text().strip()}"
        with httpx.Client(base_url=url, timeout=60) as http:
            secret = http.get("/ui/login").text.split('name="login_csrf" value="')[1]
            answer = http.post(
                "/ui/login", data={"token": token, "login_csrf": secret.split('"')[0]}
            )
            assert answer.status_code == 303
            page = http.get("/ui/jobs")
            assert page.status_code == 200 and job.id in page.text and ">local<" in page.text
            assert "DONE" in http.get(f"/ui/jobs/{job.id}").text
    finally:
        process.terminate()
        process.wait(60)
    store = Store.open(data)
    try:
        assert [t["revoked_at"] is not None for t in store.tokens("local")] == [True]
        assert store.get_user("local")["role"] == "admin"
        assert store.get_job(job.id)["status"] == "DONE"  # nothing deleted
    finally:
        store.close()
