// Minimal live board: connects to /ws and applies run updates to the table. Text goes in with
// textContent only, so nothing from a payload is ever parsed as HTML.
(function () {
  "use strict";
  const MAX_ROWS = 200;
  const tbody = document.getElementById("runs");
  const status = document.getElementById("connection");
  let backoff = 1000;

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function render(build) {
    const state = build.conclusion || build.status;
    const tr = document.createElement("tr");
    tr.dataset.runId = build.id;
    tr.className = "state-" + state;
    const stateCell = cell(state);
    stateCell.className = "state";
    tr.append(stateCell, cell(build.repo), cell(build.branch));
    const wf = cell("");
    if (build.url) {
      const a = document.createElement("a");
      a.href = build.url;
      a.textContent = build.workflow;
      wf.append(a);
    } else {
      wf.textContent = build.workflow;
    }
    const commit = cell("");
    const code = document.createElement("code");
    code.textContent = build.sha.slice(0, 7);
    commit.append(code, document.createTextNode(" " + (build.message || "")));
    tr.append(wf, commit, cell(build.author), cell(build.duration_s == null ? "" : build.duration_s + " s"));
    return tr;
  }

  function upsert(build) {
    const row = render(build);
    const old = tbody.querySelector('tr[data-run-id="' + build.id + '"]');
    if (old) old.replaceWith(row); else tbody.prepend(row);
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws");
    ws.onopen = function () { backoff = 1000; status.dataset.state = "open"; status.textContent = "live"; };
    ws.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.type === "run") upsert(msg.build);
      if (msg.type === "snapshot") {
        tbody.replaceChildren();
        msg.builds.slice().reverse().forEach(upsert);
      }
    };
    ws.onclose = function () {
      status.dataset.state = "closed";
      status.textContent = "disconnected — reconnecting";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }
  connect();
})();
