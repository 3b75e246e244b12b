// The TV rotation: every `page=` seconds the next page (paging.js); once every page was shown and
// the view had its time (`rotate=` seconds, the answer view four times that: board.js), the next
// view of the rotation, Triage skipped while nothing is red. A break being held on screen
// (alerts.js) waits for its hold. When the next view cannot be fetched, a readable notice says
// so and it is asked again with backoff while this view stays live. Every TV page loads it; the
// rules: docs/board.md.

import { ANSWER_DWELL, alertBox, answer, body, pageMs, rotateMs, rotation, view } from "./board.js";
import { banner, holding, release } from "./alerts.js";
import { pageCount, turn } from "./paging.js";

const dwellMs = view === answer && rotation.length > 1 ? ANSWER_DWELL * rotateMs : rotateMs;
let shownPages = 0;
let startedAt = Date.now();
let pageShownAt = startedAt;
let rotating = false;
let rotateFailures = 0;


// The view after this one in the rotation; Triage is skipped while nothing is red. None when
// the rotation comes back to this view.
function nextUrl() {
  const here = view === "people" ? "developer" : view;
  const at = rotation.findIndex((stop) => stop[0] === here);
  for (let i = 1; i <= rotation.length; i++) {
    const stop = rotation[(at + i) % rotation.length];
    if (stop[0] === here) return null;
    if (stop[0] === "triage" && body.dataset.red === "0") continue;
    return stop[1];
  }
  return null;
}

function retry(why) {
  rotateFailures += 1;
  const wait = Math.min(120, 5 * Math.pow(2, rotateFailures - 1));
  alertBox("tv-notice", why(wait));
  setTimeout(rotate, wait * 1000);
}

// The next view, once the server answers for it; a refusal (429, 5xx, a bad parameter) is shown
// big, and asked again with backoff while this view stays live.
function rotate() {
  const conn = document.getElementById("conn");
  const next = nextUrl();
  if (!next) { rotating = false; startedAt = Date.now(); shownPages = 0; return; }
  if (conn && conn.dataset.state !== "open") { setTimeout(rotate, 5000); return; }
  fetch(next, { method: "GET", cache: "no-store", credentials: "same-origin" })
    .then(function (response) {
      if (response.ok) {
        release();
        location.replace(next);
        return;
      }
      const status = response.status;
      const what = status === 429 ? "The server is busy (429)"
        : status >= 500 ? "The server had a problem (" + status + ")"
          : "The next view was refused (" + status + ")";
      retry((wait) => what + ". Staying here; trying again in " + wait + " s.");
    })
    .catch(function () {
      retry((wait) => "The server cannot be reached. Trying again in " + wait + " s.");
    });
}

// Every second: the next page when its time is up; the next view once every page was shown and
// the view had its time, unless a break is held.
function step() {
  const now = Date.now();
  banner();
  const pages = pageCount();
  // Held: the view has had its time once the hold ends; its pages go on turning meanwhile
  // (the Wall's red tiles are on every page, Triage stays on the held item's).
  const held = holding();
  if (held) startedAt = Math.min(startedAt, now - dwellMs);
  // A rotating view's pages all fit in its time when they can (page=N seconds at most, 2 s at
  // least); every page is shown before the next view.
  const perPage = rotateMs > 0 && pages > 1 ? Math.max(2000, Math.min(pageMs, dwellMs / pages)) : pageMs;
  const pageDone = now - pageShownAt >= perPage;
  const seenAll = shownPages + 1 >= pages && (pages === 1 || pageDone);
  if (!held && rotateMs > 0 && seenAll && now - startedAt >= dwellMs) {
    if (!rotating) { rotating = true; rotate(); }
    return;
  }
  if (pages > 1 && pageDone) {
    shownPages += 1;
    pageShownAt = now;
    turn();
  }
}

setInterval(step, 1000);
