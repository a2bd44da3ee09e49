"""The dashboard's defences, over plain HTTP against a real server: sessions, CSRF,
other users' jobs, the Content-Security-Policy."""

from __future__ import annotations

from qlambda.dashboard.security import CONTENT_SECURITY_POLICY


def test_a_page_without_a_session_goes_to_the_login_form(server):
    with server.http(None) as http:
        for path in ("/ui", "/ui/jobs", "/ui/qpus", "/ui/users", "/ui/whatif", "/ui/jobs/1"):
            answer = http.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].endswith(("/ui/login", "/ui/jobs"))
        assert http.get("/").headers["location"] == "/ui/jobs"
        http.cookies.set("qlambda_session", "made-up")
        assert http.get("/ui/jobs").headers["location"].endswith("/ui/login")


def test_a_bearer_token_is_no_session(server):
    """The API's header does not open pages: only the login form's cookie does."""
    with server.http(server.tokens["alice"]) as http:
        assert http.get("/ui/jobs").status_code == 303


def test_a_state_changing_post_without_the_csrf_token_is_refused(server, tools):
    job = tools.submit(server, "alice", "sleeper", seconds=30)
    with tools.session_client(server, "alice") as client:
        page = client.get("/ui/jobs")
        csrf = tools.csrf_of(page.text)
        refused = client.post(f"/ui/jobs/{job}/cancel", data={})
        assert refused.status_code == 403 and "CSRF" in refused.text
        wrong = client.post(f"/ui/jobs/{job}/cancel", data={"csrf": csrf[:-2] + "xx"})
        assert wrong.status_code == 403
        for path in (f"/ui/jobs/{job}/resubmit", "/ui/whatif", "/ui/logout"):
            assert client.post(path, data={}).status_code == 403, path
        assert client.post("/ui/users/alice/revoke", data={}).status_code == 403
        with server.http(server.tokens["alice"]) as http:
            assert http.get(f"/jobs/{job}").json()["status"] in ("QUEUED", "RUNNING")
        # with it (as a form field, or a header from a script), the cancel goes through
        done = client.post(f"/ui/jobs/{job}/cancel", headers={"X-CSRF-Token": csrf})
        assert done.status_code == 303
    assert tools.wait_ended(server, "alice", job)["status"] == "CANCELED"


def test_a_post_from_another_sites_page_is_refused(server, tools):
    with tools.session_client(server, "alice") as client:
        csrf = tools.csrf_of(client.get("/ui/jobs").text)
        answer = client.post(
            "/ui/logout", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert answer.status_code == 403


def test_the_login_form_needs_its_own_cookie(server):
    """Login CSRF: a form posted from elsewhere (no double-submit cookie) logs no one in."""
    with server.http(None) as http:
        answer = http.post(
            "/ui/login", data={"token": server.tokens["alice"], "login_csrf": "guess"}
        )
        assert answer.status_code == 403
        assert "qlambda_session" not in answer.cookies


def test_a_wrong_token_is_told_and_logs_no_one_in(server):
    with server.http(None) as http:
        form = http.get("/ui/login")
        secret = form.text.split('name="login_csrf" value="')[1].split('"')[0]
        answer = http.post("/ui/login", data={"token": "qlk_wrong", "login_csrf": secret})
        assert answer.status_code == 401 and "unknown or revoked token" in answer.text
        assert "qlambda_session" not in answer.cookies


def test_another_users_job_is_not_found_for_a_user(server, tools):
    job = tools.submit(server, "alice", "sleeper", seconds=0.01)
    tools.wait_ended(server, "alice", job)
    with tools.session_client(server, "bob") as bob:
        csrf = tools.csrf_of(bob.get("/ui/jobs").text)
        for path in (f"/ui/jobs/{job}", f"/ui/jobs/{job}/panel", f"/ui/jobs/{job}/log"):
            assert bob.get(path).status_code == 404, path
        for path in (f"/ui/jobs/{job}/cancel", f"/ui/jobs/{job}/resubmit"):
            assert bob.post(path, data={"csrf": csrf}).status_code == 404, path
        assert bob.get("/ui/live", params={"job": job}).status_code == 404
        assert job not in bob.get("/ui/jobs").text
        assert bob.get("/ui/jobs", params={"user": "alice"}).status_code == 403
        assert "alice" not in bob.get("/ui/users").text
    with tools.session_client(server, "root") as root:
        assert root.get(f"/ui/jobs/{job}").status_code == 200


def test_every_dashboard_response_has_the_content_security_policy(server, tools):
    with tools.session_client(server, "alice") as client:
        for path in ("/ui/login", "/ui/jobs", "/ui/qpus", "/ui/static/dashboard.js"):
            answer = client.get(path)
            assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
        assert client.get("/ui/jobs").headers["cache-control"] == "no-store"
    policy = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert policy["script-src"] == "'self'" and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert policy["frame-ancestors"] == "'none'"


def test_pages_have_no_inline_script_or_style(server, tools):
    with tools.session_client(server, "root") as client:
        for path in ("/ui/jobs", "/ui/qpus", "/ui/users", "/ui/whatif"):
            html = client.get(path).text
            assert "<script>" not in html and "<script " not in html.replace(
                '<script src="/ui/static/dashboard.js" defer></script>', ""
            )
            assert " style=" not in html and "<style" not in html
            assert " on" not in "".join(
                part.split(">")[0] for part in html.split("<") if part[:1].isalpha()
            ).replace(" only", "")


def test_logout_ends_the_session(server, tools):
    with tools.session_client(server, "alice") as client:
        csrf = tools.csrf_of(client.get("/ui/jobs").text)
        assert client.post("/ui/logout", data={"csrf": csrf}).status_code == 303
        assert client.get("/ui/jobs").status_code == 303


def test_unknown_filters_and_bad_values_are_told(server, tools):
    with tools.session_client(server, "alice") as client:
        assert client.get("/ui/jobs", params={"status": "SLEEPING"}).status_code == 422
        assert "accepted" in client.get("/ui/jobs", params={"status": "SLEEPING"}).text
        assert client.get("/ui/jobs", params={"before": "x"}).status_code == 422
        assert client.get("/ui/jobs", params={"since": "yesterday"}).status_code == 422
        assert client.get("/ui/jobs", params={"colour": "red"}).status_code == 422
