// buildboard's live board. The server renders every piece of HTML (see src/views.rs); this script
// only connects to /ws, swaps server-rendered fragments into place, re-fetches server-rendered parts,
// and shows the connection state. TV mode (rotation, paging, the Wall's layout), the title and icon,
// and relative times are static/tv.js's, which hears of every message and redraw through the
// events `bb:message` and `bb:updated`. It never builds markup from payload text.

// What every script of a page reads first: the body, its data attributes, the view and whether
// it is in TV mode. Global (a classic script, loaded before tv.js), so tv.js reads it the same way.
function boardPage() {
  "use strict";
  const body = document.body;
  const ds = body.dataset;
  return { body: body, ds: ds, view: ds.view, tv: ds.tv === "1" };
}

(function () {
  "use strict";

  const { body, ds, view, tv } = boardPage();
  // The server's numbers (BoardQuery::chrome), their one source: every page carries them.
  const maxStream = Number(ds.maxStream);
  const conn = document.getElementById("conn");
  const updated = document.getElementById("updated");
  const MIN_BACKOFF = 1000;
  const MAX_BACKOFF = 30000;
  const RESYNC_EVERY = 10 * 60 * 1000;

  let socket = null;
  let backoff = MIN_BACKOFF;
  let retryAt = 0;
  let lastUpdate = 0;
  let needResync = false;
  let hudTimer = 0;
  let liveTimer = 0;
  // Run messages wait here for the next frame: a burst costs one redraw, not one per message.
  let pendingRuns = [];
  let frame = 0;

  // ---- connection state, always visible -------------------------------------------------------

  function setConn(state, text) {
    conn.dataset.state = state;
    conn.textContent = text;
    body.classList.toggle("offline", state === "closed");
  }

  function ago(seconds) {
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    return Math.floor(seconds / 3600) + " h ago";
  }

  function tick() {
    if (lastUpdate) {
      // Written only when it reads differently: a burst of messages costs no layout here.
      const text = "last update " + ago(Math.round((Date.now() - lastUpdate) / 1000));
      if (updated.textContent !== text) updated.textContent = text;
    }
    if (conn.dataset.state === "closed" && retryAt) {
      const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      conn.textContent = "✖ disconnected, retrying in " + left + " s";
    }
  }

  // ---- fragments ------------------------------------------------------------------------------

  // Parses one server-rendered element; <template> parsing runs no script and loads nothing.
  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function refresh(url, id) {
    if (!url) return Promise.resolve();
    return fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        const target = document.getElementById(id);
        if (target) target.innerHTML = html;
        updated_(id);
      })
      .catch(function () { needResync = true; });
  }

  // Tells static/tv.js that part of the page was redrawn.
  function updated_(part) {
    document.dispatchEvent(new CustomEvent("bb:updated", { detail: part }));
  }

  // Everything on the page again, from the shared server-side render.
  let lastResync = 0;
  function resync() {
    needResync = false;
    lastResync = Date.now();
    return refresh(ds.liveUrl, "live");
  }

  // Bursts of changes cost one fetch; the jitter spreads many screens over a second.
  function later(fn, wait) { return setTimeout(fn, (wait || 200) + Math.random() * 500); }

  function scheduleHud() {
    if (hudTimer) return;
    // A TV, read from across the room, redraws its figures at most every 2.5 to 3 s.
    hudTimer = later(function () { hudTimer = 0; refresh(ds.hudUrl, "hud"); }, tv ? 2500 : 200);
  }

  // A TV redraws its view from the server at most every 2.5 s (a new break does not wait: see
  // static/tv.js). Its waterfall draws the runs of the commits it shows as they come; a new
  // commit costs a redraw of the whole view, at most every 10 s.
  function scheduleLive() {
    if (liveTimer) return;
    const every = !tv ? 0 : view === "waterfall" ? 10000 : 2500;
    const gap = lastResync + every - Date.now();
    liveTimer = later(function () { liveTimer = 0; resync(); }, Math.max(200, gap));
  }

  // ---- the waterfall --------------------------------------------------------------------------

  // The page's filters, as the server reads them (src/store/query.rs): each a comma-separated list
  // matching any of its values; branches may be globs, workflow names match in any case.
  function list(text) {
    return (text || "").split(",").map(function (v) { return v.trim(); }).filter(Boolean);
  }

  // An SQLite GLOB pattern (`*`, `?`, `[...]`, `[^...]`) as a RegExp.
  function globRegExp(glob) {
    let source = "";
    for (let i = 0; i < glob.length; i += 1) {
      const c = glob[i];
      if (c === "*") source += "[\\s\\S]*";
      else if (c === "?") source += "[\\s\\S]";
      else if (c === "[") {
        const end = glob.indexOf("]", i + 2);
        if (end < 0) { source += "\\["; continue; }
        let set = glob.slice(i + 1, end);
        const negate = set[0] === "^";
        if (negate) set = set.slice(1);
        source += "[" + (negate ? "^" : "") + set.replace(/[\\\]]/g, "\\$&") + "]";
        i = end;
      } else source += c.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
    }
    return new RegExp("^" + source + "$");
  }

  const filters = {
    repo: list(ds.repo),
    branch: list(ds.branch).map(function (b) {
      return /[*?[]/.test(b) ? globRegExp(b) : b;
    }),
    workflow: list(ds.workflow).map(function (w) { return w.toLowerCase(); }),
    author: list(ds.author),
  };

  function matches(build) {
    const any = function (values, test) { return values.length === 0 || values.some(test); };
    return any(filters.repo, function (r) { return build.repo === r; }) &&
      any(filters.branch, function (b) {
        return typeof b === "string" ? build.branch === b : b.test(build.branch || "");
      }) &&
      any(filters.workflow, function (w) { return (build.workflow || "").toLowerCase() === w; }) &&
      any(filters.author, function (a) { return build.author === a; });
  }

  function laneCell(row, lane) {
    for (const cell of row.children) {
      if (cell.dataset.lane === lane) return cell;
    }
    return null;
  }

  // A TV, read from across the room, redraws runs at most once a second: a busy organisation's
  // stream of deliveries costs one redraw a second, not one per frame (the first run after a quiet
  // second is drawn in the next frame).
  const TV_REDRAW_MS = 1000;
  let lastFlush = -Infinity;
  function queueRun(message) {
    pendingRuns.push(message);
    if (frame) return;
    const wait = tv ? TV_REDRAW_MS - (performance.now() - lastFlush) : 0;
    if (wait > 0) {
      frame = setTimeout(function () { frame = requestAnimationFrame(flushRuns); }, wait);
    } else frame = requestAnimationFrame(flushRuns);
  }

  // One frame's runs, applied together; a run seen twice in the burst is applied once, newest.
  function flushRuns() {
    frame = 0;
    lastFlush = performance.now();
    const runs = pendingRuns;
    pendingRuns = [];
    const last = new Map();
    for (const message of runs) last.set(message.build && message.build.id, message);
    // Only the burst's last entries of the stream would stay: the others are not parsed at all.
    const shown = Array.from(last.values()).filter(function (message) {
      return message.html && message.build && matches(message.build);
    });
    shown.forEach(function (message, i) { applyRun(message, i >= shown.length - maxStream); });
    updated_("runs");
  }

  // A run already drawn is swapped in place; a new run of a commit and workflow drawn is added to
  // its cell. Anything else (a new commit, workflow or repository) is laid out by the server: its
  // block's rows, columns and branch marks are the server's (src/views.rs), fetched once for a
  // burst.
  function applyRun(message, streamed) {
    const build = message.build;
    const html = message.html;
    if (!html || !matches(build)) return;
    const repos = document.getElementById("repos");
    if (repos) {
      const existing = repos.querySelector('[data-run-id="' + CSS.escape(String(build.id)) + '"]');
      const block = repos.querySelector('.repo-block[data-repo="' + CSS.escape(build.repo) + '"]');
      const key = build.repo + "@" + build.sha;
      const row = block && block.querySelector('tr[data-commit="' + CSS.escape(key) + '"]');
      const cell = row && laneCell(row, String(build.workflow_id));
      if (existing) existing.replaceWith(fragment(html.cell));
      else if (cell) cell.prepend(fragment(html.cell));
      else scheduleLive();
    }
    const stream = document.getElementById("stream");
    if (stream && streamed) {
      stream.prepend(fragment(html.stream));
      while (stream.children.length > maxStream) stream.lastElementChild.remove();
    }
    scheduleHud();
  }

  // ---- the feed -------------------------------------------------------------------------------

  function onMessage(event) {
    let message;
    try { message = JSON.parse(event.data); } catch (err) { return; }
    lastUpdate = Date.now();
    tick();
    document.dispatchEvent(new CustomEvent("bb:message", { detail: message }));
    switch (message.type) {
      case "hello":
        if (needResync || Number(message.generation) > Number(ds.generation)) resync();
        break;
      case "snapshot":
        if (message.reason === "lagged") resync();
        break;
      case "run":
        if (view === "waterfall") queueRun(message); else if (view !== "people") scheduleLive();
        break;
      case "job":
        if (view === "waterfall") scheduleHud(); else if (view === "developer" || view === "run") scheduleLive();
        break;
      default:
        break;
    }
  }

  function connect() {
    retryAt = 0;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(proto + "//" + location.host + "/ws");
    socket.onopen = function () {
      backoff = MIN_BACKOFF;
      setConn("open", "● live");
    };
    socket.onmessage = onMessage;
    socket.onclose = function () {
      socket = null;
      needResync = true;
      const wait = backoff / 2 + Math.random() * backoff / 2;
      backoff = Math.min(backoff * 2, MAX_BACKOFF);
      retryAt = Date.now() + wait;
      setConn("closed", "✖ disconnected");
      tick();
      setTimeout(connect, wait);
    };
  }

  // For static/tv.js: redraw the live part now (a new break is on its way to the screen).
  window.buildboard = { resync: resync };

  setConn("connecting", "◌ connecting…");
  connect();
  setInterval(tick, 1000);
  setInterval(function () { if (socket) resync(); }, RESYNC_EVERY);
})();
