"""The dashboard in a real headless Chromium: log in, watch jobs live, open a timeline,
cancel, run a what-if, at desktop and phone width, by keyboard. Every test fails on a
console error (the ``open_page`` fixture) and saves screenshots in its tmp dir."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.timeout(600)

EVENT_TIMEOUT_MS = 1000  # the page shows a transition within a second of it


def test_login_then_a_job_goes_queued_to_done_live_without_reload(server, open_page, tools):
    page = open_page()
    page.login(server.tokens["alice"])
    tab = page.tab
    tab.wait_for_selector("body[data-live='on']")
    tab.evaluate("window.notReloaded = true")
    # alice runs one job at a time: the second waits QUEUED behind the first
    blocker = tools.submit(server, "alice", "sleeper", seconds=2.0)
    watched = tools.submit(server, "alice", "work", n=2, pause=0.3, message="live")
    row = f"tr[data-id='{watched}']"
    tab.wait_for_selector(f"{row} .status-queued", timeout=EVENT_TIMEOUT_MS)
    page.shot("jobs-queued")
    tools.wait_ended(server, "alice", blocker)
    tools.wait_ended(server, "alice", watched)
    tab.wait_for_selector(f"{row} .status-done", timeout=EVENT_TIMEOUT_MS)
    assert tab.evaluate("window.notReloaded") is True  # updated in place, not reloaded
    # the newest job is on top, and a finished one has no cancel button any more
    assert tab.locator("#job-rows tr").first.get_attribute("data-id") == watched
    assert tab.locator(f"{row} form[action$='/cancel']").count() == 0
    page.shot("jobs-done")


def test_a_jobs_timeline_result_events_and_log(server, open_page, tools):
    job = tools.submit(server, "alice", "work", n=3, pause=0.2, message="printed")
    tools.wait_ended(server, "alice", job)
    page = open_page()
    page.login(server.tokens["alice"])
    page.tab.click(f"tr[data-id='{job}'] a")
    page.tab.wait_for_url(f"**/ui/jobs/{job}")
    gantt = page.tab.locator("#timeline svg")
    lanes = gantt.locator("text.lane").all_text_contents()
    assert lanes[:2] == ["job", "classical"] and lanes[2].startswith("QPU ")
    assert gantt.locator("rect.span-queued").count() == 1
    assert gantt.locator("rect.span-execute").count() == 3  # one per quantum task
    assert gantt.locator("g.mark-checkpoint").count() == 3
    assert gantt.locator("g.mark-end").count() == 1
    assert "DONE" in page.tab.inner_text("#job-status")
    assert page.tab.locator("svg rect.bar").count() >= 2  # the counts histogram
    events = page.tab.locator("table.events").inner_text()
    assert "QPU_FINISHED" in events and "CHECKPOINT" in events
    assert "printed 2" in page.tab.inner_text("#log")
    page.shot("job-timeline")


def test_a_running_jobs_page_tails_its_log_and_updates_its_status(server, open_page, tools):
    page = open_page()
    page.login(server.tokens["bob"])
    job = tools.submit(server, "bob", "work", n=4, pause=0.8, message="tail")
    page.tab.goto(f"/ui/jobs/{job}")
    page.tab.wait_for_selector("#log:has-text('tail 3')", timeout=60_000)
    tools.wait_ended(server, "bob", job)
    page.tab.wait_for_selector("#job-status[data-status='DONE']", timeout=5000)
    page.tab.wait_for_selector("svg rect.bar")  # the result appeared without a reload


def test_cancel_a_job_from_the_list(server, open_page, tools):
    job = tools.submit(server, "bob", "sleeper", seconds=120)
    page = open_page()
    page.login(server.tokens["bob"])
    page.tab.click(f"tr[data-id='{job}'] button[aria-label='Cancel job {job}']")
    page.tab.wait_for_url("**/ui/jobs")
    # a sandboxed job ends once its sandbox is gone: seconds on a loaded machine
    page.tab.wait_for_selector(f"tr[data-id='{job}'] .status-canceled", timeout=30_000)
    assert tools.wait_ended(server, "bob", job)["status"] == "CANCELED"
    page.shot("jobs-canceled")


def test_resubmit_runs_the_job_again(server, open_page, tools):
    job = tools.submit(server, "bob", "sleeper", seconds=0.1)
    tools.wait_ended(server, "bob", job)
    page = open_page()
    page.login(server.tokens["bob"])
    page.tab.goto(f"/ui/jobs/{job}")
    page.tab.click(f"button[aria-label='Resubmit job {job}']")
    page.tab.wait_for_url(re.compile(r".*/ui/jobs/(?!" + job + r")[0-9a-f]+$"))
    new = page.tab.url.rsplit("/", 1)[1]
    assert tools.wait_ended(server, "bob", new)["status"] == "DONE"
    with server.http(server.tokens["bob"]) as http:
        assert http.get(f"/jobs/{new}/result").json()["value"] == [{"slept": 0.1, "unit": "s"}]


def test_filters_search_and_pages(server, open_page, tools):
    ids = [tools.submit(server, "root", "sleeper", seconds=0.01) for _ in range(4)]
    for job in ids:
        tools.wait_ended(server, "root", job)
    page = open_page()
    page.login(server.tokens["root"])
    tab = page.tab
    tab.fill("input[name=q]", ids[1][:14])
    tab.press("input[name=q]", "Enter")
    tab.wait_for_url("**q=*")
    assert tab.locator("#job-rows tr").count() == 1
    tab.goto("/ui/jobs?user=root&function=sleeper&status=DONE&limit=25")
    first_page = tab.locator("#job-rows tr").count()
    assert first_page >= 4
    tab.goto("/ui/jobs?user=root&limit=25")
    assert (
        tab.locator("#job-rows tr td.owner").all_inner_texts()
        == ["root"] * tab.locator("#job-rows tr").count()
    )
    page.shot("jobs-filtered")


def test_qpus_workers_and_users_pages(server, open_page, tools):
    tools.wait_ended(server, "alice", tools.submit(server, "alice", "work", n=1))
    page = open_page()
    page.login(server.tokens["root"])
    page.tab.click("text=QPUs & workers")
    page.tab.wait_for_selector("table.qpus tr[data-backend='aer']")
    assert page.tab.locator("svg polyline.line").count() >= 1  # utilisation over time
    assert "Worker pool" in page.tab.inner_text("main")
    assert "fifo" in page.tab.inner_text("main")
    page.shot("qpus")
    page.tab.click("text=Users & usage")
    users = page.tab.inner_text("table.users")
    assert "alice" in users and "bob" in users and "root" in users
    page.shot("users")


def test_an_admin_revokes_a_token_and_its_session_ends(server, open_page, tools):
    from qlambda.store import Store

    store = Store.open(server.data_dir)
    try:
        token = store.create_user("carol")
    finally:
        store.close()
    carol = open_page()
    carol.login(token)
    admin = open_page()
    admin.login(server.tokens["root"])
    admin.tab.goto("/ui/users")
    admin.tab.click("section[aria-label='tokens of carol'] button")
    admin.tab.wait_for_selector("section[aria-label='tokens of carol'] >> text=revoked")
    carol.tab.goto("/ui/jobs")
    carol.tab.wait_for_url("**/ui/login")


def test_a_what_if_runs_as_a_job_and_draws_its_figures(server, open_page):
    page = open_page()
    page.login(server.tokens["root"])
    page.tab.click("text=What-if")
    page.tab.select_option("select[name=source]", "big-q")
    page.tab.click("text=Use its defaults")
    page.tab.fill("input[name=Q]", "1..3")
    page.tab.fill("input[name=interarrival]", "300,900")
    page.tab.fill("input[name=reps]", "2")
    page.tab.fill("input[name=duration]", "6h")
    page.shot("whatif-form")
    page.tab.click("#run-whatif")
    page.tab.wait_for_url("**/ui/whatif/*")
    page.tab.wait_for_selector(".figure svg", timeout=300_000)
    assert page.tab.locator("svg rect.cell").count() == 6  # 2 loads x 3 QPU counts
    assert page.tab.locator("svg g.box").count() >= 3  # per qubit count that finished jobs
    assert page.tab.locator("table.summary-table tbody tr").count() == 6
    page.shot("whatif-result")


def test_a_what_if_with_a_mistake_says_what_is_wrong(server, open_page):
    page = open_page()
    page.login(server.tokens["alice"])
    page.tab.goto("/ui/whatif")
    page.tab.fill("input[name=Q]", "two")
    page.tab.click("#run-whatif")
    message = page.tab.inner_text("#whatif-error")
    assert "cannot read 'two' as an integer" in message
    assert page.tab.input_value("input[name=Q]") == "two"  # nothing typed is lost
    # the form came back as 422, which the browser logs: that, and only that, was expected
    assert all("422" in error for error in page.errors) and page.errors
    page.errors.clear()


def test_phone_width_and_keyboard_only(server, open_page, tools):
    page = open_page(tools.PHONE)
    tab = page.tab
    tab.goto("/ui/login")
    for _ in range(6):  # the skip link, the home link, then the token field
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.id") == "token":
            break
    assert tab.evaluate("document.activeElement.id") == "token"
    tab.keyboard.type(server.tokens["alice"])
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/ui/jobs")
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1  # nothing wider than the phone (tables scroll in their box)
    page.shot("jobs-phone")
    # the job links are reachable by keyboard and open with Enter
    tab.focus("#job-rows tr a")
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/ui/jobs/*")
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    page.shot("job-phone")


def test_the_token_is_in_no_url_and_no_page(server, open_page, tools):
    token = server.tokens["alice"]
    page = open_page()
    page.login(token)
    job = tools.submit(server, "alice", "sleeper", seconds=0.01)
    tools.wait_ended(server, "alice", job)
    for path in ("/ui/jobs", f"/ui/jobs/{job}", "/ui/qpus", "/ui/users", "/ui/whatif"):
        page.tab.goto(path)
        assert token not in page.tab.content()
    assert page.urls and not [url for url in page.urls if token in url]
    assert page.bodies and not [body for body in page.bodies if token in body]
    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "qlambda_session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
    assert all(token not in c["value"] for c in cookies)
