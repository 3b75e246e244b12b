// The connection and resync: connects to /ws, tells the page's other modules of every message
// (`bb:message`), re-fetches the server-rendered parts (`part=live`, `part=hud`: rendered once per
// change for every viewer of the same URL and scope) and says so (`bb:updated`), and shows the
// connection state. Every board page loads it. The server renders all HTML (src/views.rs).

import { body, ds, emit, forget, tv, view } from "./board.js";

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
let lastResync = 0;

// ---- connection state, always visible ---------------------------------------------------------

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

// ---- parts --------------------------------------------------------------------------------------

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
      emit("bb:updated", id);
    })
    .catch(function () { needResync = true; });
}

/** Everything on the page again, from the shared server-side render. */
export function resync() {
  needResync = false;
  lastResync = Date.now();
  return refresh(ds.liveUrl, "live");
}

// Bursts of changes cost one fetch; the jitter spreads many screens over a second.
function later(fn, wait) { return setTimeout(fn, (wait || 200) + Math.random() * 500); }

/** The figures again, soon: a TV, read from across the room, redraws them at most every 2.5-3 s. */
export function scheduleHud() {
  if (hudTimer) return;
  hudTimer = later(function () { hudTimer = 0; refresh(ds.hudUrl, "hud"); }, tv ? 2500 : 200);
}

/**
 * The live part again, soon. A TV redraws its view from the server at most every 2.5 s (a new
 * break does not wait: see alerts.js); its waterfall draws the runs of the repositories it shows
 * as they come (runs.js), and redraws the whole grid at most every 10 s.
 */
export function scheduleLive() {
  if (liveTimer) return;
  const every = !tv ? 0 : view === "waterfall" ? 10000 : 2500;
  const gap = lastResync + every - Date.now();
  liveTimer = later(function () { liveTimer = 0; resync(); }, Math.max(200, gap));
}

// ---- the feed -----------------------------------------------------------------------------------

function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  lastUpdate = Date.now();
  tick();
  emit("bb:message", message);
  switch (message.type) {
    case "hello":
      if (needResync || Number(message.generation) > Number(ds.generation)) resync();
      break;
    case "snapshot":
      if (message.reason === "lagged") resync();
      break;
    case "run":
      // The waterfall draws runs itself (runs.js); the people index shows no runs.
      if (view !== "waterfall" && view !== "people") scheduleLive();
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

// A page that loaded is not an error any more; the error page (error.js) reads whether this tab
// is a TV.
forget("bb.errorAttempt");
try {
  if (tv) window.sessionStorage.setItem("bb.tv", "1"); else forget("bb.tv");
} catch {
  /* private mode: the error page reads the address only */
}

setConn("connecting", "◌ connecting…");
connect();
setInterval(tick, 1000);
setInterval(function () { if (socket) resync(); }, RESYNC_EVERY);
