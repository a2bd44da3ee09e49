"""A server applies its [retention] setting while it runs."""

from __future__ import annotations

import time

import pytest

import qlambda
from qlambda.core.errors import ResultDeletedError
from qlambda.gateway.server import load_server_config
from qlambda.platform import layout
from qlambda.platform.retention import SERVER_DEFAULT

CONFIG = """
[retention]
interval = "1s"
[retention.DONE]
max_age = "1h"
output_max_age = 0
[retention.ERROR]
max_age = 0
"""


def prints(text):
    print(text)
    return text


def fails(message):
    raise RuntimeError(message)


def test_a_server_applies_its_retention_setting_periodically(new_server, tmp_path):
    config = tmp_path / "server.toml"
    config.write_text(CONFIG)
    server = new_server("--config", str(config), "--workers", "1")
    with qlambda.Client(server.url, token=server.tokens["alice"]) as client:
        kept = client.run(prints, text="hello")
        failed = client.run(fails, message="boom")
        assert kept.wait(60) and failed.wait(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = {job.id for job in client.jobs()}
            if kept.info().output_deleted_at is not None and failed.id not in listed:
                break
            time.sleep(0.2)
        info = kept.info()
        assert info.status is qlambda.JobStatus.DONE and info.output_deleted_at is not None
        with pytest.raises(ResultDeletedError, match=kept.id):
            kept.result()
        assert kept.logs() == ""
        with server.http(server.tokens["alice"]) as http:
            answer = http.get(f"/jobs/{kept.id}/result")
            assert answer.status_code == 410
            assert "deleted" in answer.json()["detail"]
            assert http.get(f"/jobs/{failed.id}").status_code == 404
        with pytest.raises(KeyError):  # as embedded
            client.job(failed.id)
    for job_id in (kept.id, failed.id):
        assert not layout.job_files(server.data_dir, job_id)


def test_a_server_applies_the_default_policy_unless_configured(tmp_path):
    platform, _, _ = load_server_config(None)
    assert platform.retention == SERVER_DEFAULT
    config = tmp_path / "server.toml"
    config.write_text("[retention]\nenabled = false\n")
    assert load_server_config(config)[0].retention.keeps_everything
    config.write_text('[retention.CANCELED]\nmax_age = "2h"\n')
    changed = load_server_config(config)[0].retention
    assert changed.rule("CANCELED").max_age == 7200 and changed.rule("CANCELED").max_jobs is None
    assert changed.rule("DONE") == SERVER_DEFAULT.rule("DONE")
