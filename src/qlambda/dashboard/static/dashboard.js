// qlambda dashboard: what makes the server-rendered pages live. No framework, no build.
// - the jobs page follows /ui/live (Server-Sent Events): rows change and new jobs
//   appear as they happen, without reloading;
// - a job's page (and a what-if's) reads its panel again at each of the job's
//   transitions and every 2 s while it runs, and tails its log;
// - the QPUs page reads its panel every few seconds.
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function clock(ts) {
    return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19);
  }

  function setStatus(cell, job) {
    const badge = cell.querySelector(".status");
    badge.className = "status status-" + job.status.toLowerCase();
    badge.textContent = job.status;
    let sub = cell.querySelector(".sub");
    if (!sub) {
      sub = document.createElement("span");
      sub.className = "sub";
      cell.append(" ", sub);
    }
    sub.textContent = job.sub_status || "";
  }

  // ------------------------------------------------------------------ jobs page
  function jobsPage(table) {
    const body = document.getElementById("job-rows");
    const state = document.getElementById("live-state");
    const d = table.dataset;
    const statuses = d.statuses ? d.statuses.split(",") : [];
    const search = (d.search || "").toLowerCase();
    const limit = parseInt(d.limit, 10);
    const num = (text) => (text === "" ? null : parseFloat(text));
    const minPriority = num(d.minPriority), since = num(d.since), until = num(d.until);

    function matches(job) {
      if (statuses.length && !statuses.includes(job.status)) return false;
      if (d.owner && job.owner !== d.owner) return false;
      if (d.function && job.function !== d.function) return false;
      if (search && !(job.id.startsWith(search) || job.function.toLowerCase().includes(search)))
        return false;
      if (minPriority !== null && job.priority < minPriority) return false;
      if (since !== null && job.created_at < since) return false;
      if (until !== null && job.created_at >= until) return false;
      return true;
    }

    function newRow(job) {
      const row = document.getElementById("job-row-template").content.firstElementChild.cloneNode(true);
      row.dataset.id = job.id;
      row.dataset.created = job.created_at;
      const link = row.querySelector(".id a");
      link.href = "/ui/jobs/" + encodeURIComponent(job.id);
      link.textContent = job.id;
      row.querySelector(".function").textContent = job.function;
      row.querySelector(".owner").textContent = job.owner;
      row.querySelector(".priority").textContent = String(job.priority);
      row.querySelector(".created").textContent = clock(job.created_at);
      setStatus(row.querySelector(".state"), job);
      const cancel = row.querySelector("form.cancel");
      cancel.action = "/ui/jobs/" + encodeURIComponent(job.id) + "/cancel";
      cancel.querySelector('[name="next"]').value = d.here;
      cancel.querySelector("button").setAttribute("aria-label", "Cancel job " + job.id);
      const again = row.querySelector("form.resubmit");
      again.action = "/ui/jobs/" + encodeURIComponent(job.id) + "/resubmit";
      again.querySelector("button").setAttribute("aria-label", "Resubmit job " + job.id);
      row.querySelectorAll('[name="csrf"]').forEach((input) => (input.value = csrf()));
      return row;
    }

    function update(job) {
      if (!job.function) return; // deleted meanwhile
      const row = body.querySelector('tr[data-id="' + CSS.escape(job.id) + '"]');
      const final = !["QUEUED", "RUNNING"].includes(job.status);
      if (row) {
        setStatus(row.querySelector(".state"), job);
        if (final) row.querySelectorAll("form.cancel, form[action$='/cancel']").forEach((f) => f.remove());
        return;
      }
      if (d.firstPage !== "1" || !matches(job)) return;
      const created = parseFloat(job.created_at);
      let before = null; // newest first: the first row older than this job
      for (const other of body.rows) {
        if (parseFloat(other.dataset.created) < created) { before = other; break; }
      }
      const added = newRow(job);
      if (final) added.querySelector("form.cancel").remove();
      body.insertBefore(added, before);
      while (body.rows.length > limit) body.deleteRow(-1);
      const empty = document.getElementById("no-jobs");
      if (empty) empty.remove();
    }

    async function reread() {
      const answer = await fetch(d.rowsUrl, { credentials: "same-origin" });
      if (answer.ok) body.innerHTML = await answer.text();
    }

    const source = new EventSource("/ui/live");
    source.addEventListener("subscribed", async () => {
      // what happened between the page's rendering (or the stream's fall) and now
      await reread();
      state.textContent = "live";
      document.body.dataset.live = "on";
    });
    source.addEventListener("job", (event) => update(JSON.parse(event.data)));
    source.onerror = () => {
      state.textContent = "reconnecting…";
      document.body.dataset.live = "off";
    };
  }

  // --------------------------------------------------------- panels (job, what-if)
  function livePanel(panel) {
    let busy = false, again = false, done = panel.dataset.final === "1";
    const refresh = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const answer = await fetch(panel.dataset.panelUrl, { credentials: "same-origin" });
        if (answer.ok) {
          const focused = document.activeElement;
          const label = focused && panel.contains(focused) ? focused.getAttribute("aria-label") : null;
          panel.innerHTML = await answer.text();
          if (label) {
            const back = panel.querySelector('[aria-label="' + CSS.escape(label) + '"]');
            if (back) back.focus();
          }
          const status = panel.querySelector("#job-status");
          if (status && !["QUEUED", "RUNNING"].includes(status.dataset.status)) done = true;
          panel.dataset.final = done ? "1" : "0";
        }
      } finally {
        busy = false;
        if (again) { again = false; refresh(); }
      }
    };
    if (panel.dataset.refresh) {
      setInterval(refresh, parseFloat(panel.dataset.refresh) * 1000);
      return;
    }
    if (done) return;
    const source = new EventSource("/ui/live?job=" + encodeURIComponent(panel.dataset.job));
    source.addEventListener("subscribed", () => (document.body.dataset.live = "on"));
    source.addEventListener("job", () => refresh());
    const timer = setInterval(() => {
      if (done) { clearInterval(timer); source.close(); return; }
      refresh();
    }, 2000);
  }

  function logTail(log) {
    let offset = parseInt(log.dataset.offset, 10);
    const state = document.getElementById("log-state");
    const timer = setInterval(async () => {
      const answer = await fetch(log.dataset.logUrl + "?offset=" + offset, { credentials: "same-origin" });
      if (!answer.ok) return;
      const tail = await answer.json();
      if (tail.text) {
        const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.append(tail.text);
        if (atEnd) log.scrollTop = log.scrollHeight;
      }
      offset = tail.offset;
      if (tail.final) {
        clearInterval(timer);
        if (state) state.textContent = "";
      }
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("jobs");
    if (table) jobsPage(table);
    const panel = document.getElementById("panel");
    if (panel) livePanel(panel);
    const log = document.getElementById("log");
    if (log && panel && panel.dataset.final !== "1") logTail(log);
  });
})();
