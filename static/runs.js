// The Waterfall's live runs: each `run` message of the feed carries the server-rendered cell, row,
// column head and stream entry for it (src/feed.rs), which are put in place here, a burst at once
// (the repository blocks' layout is the server's: a run with no cell drawn yet redraws the part).
// Whether a run belongs on this page is the server's answer, never a second filter here: the
// page's `data-live-runs` is `draw` when the page shows every run the feed sends it (the feed
// already holds only what this viewer may read), and `fetch` when the page's filter narrows it
// (then each run redraws the live part from the server's shared render). The Waterfall loads it.

import { ds, emit, fragment, maxStream, tv } from "./board.js";
import { scheduleHud, scheduleLive } from "./app.js";

const draws = ds.liveRuns === "draw";
// Run messages wait here for the next frame: a burst costs one redraw, not one per message.
let pendingRuns = [];
let frame = 0;

function laneCell(row, lane) {
  for (const cell of row.children) {
    if (cell.dataset.lane === lane) return cell;
  }
  return null;
}

// A run already drawn is swapped in place; a new run of a commit and workflow drawn is added to
// its cell. Anything else (a new commit, workflow or repository) is laid out by the server: its
// block's rows, columns and branch marks are the server's (src/views.rs), fetched once for a
// burst.
function applyRun(message, streamed) {
  const build = message.build;
  const html = message.html;
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

// One frame's runs, applied together; a run seen twice in the burst is applied once, newest.
// Only the burst's last entries of the stream would stay: the others are not parsed at all.
let lastFlush = -Infinity;
function flushRuns() {
  frame = 0;
  lastFlush = performance.now();
  const runs = pendingRuns;
  pendingRuns = [];
  const last = new Map();
  for (const message of runs) last.set(message.build.id, message);
  const shown = Array.from(last.values());
  shown.forEach(function (message, i) { applyRun(message, i >= shown.length - maxStream); });
  emit("bb:updated", "runs");
}

// A TV, read from across the room, redraws runs at most once a second: a busy organisation's
// stream of deliveries costs one redraw a second, not one per frame (the first run after a quiet
// second is drawn in the next frame).
const TV_REDRAW_MS = 1000;
function queueRun(message) {
  pendingRuns.push(message);
  if (frame) return;
  const wait = tv ? TV_REDRAW_MS - (performance.now() - lastFlush) : 0;
  if (wait > 0) {
    frame = setTimeout(function () { frame = requestAnimationFrame(flushRuns); }, wait);
  } else frame = requestAnimationFrame(flushRuns);
}

document.addEventListener("bb:message", function (event) {
  const message = event.detail;
  if (message.type !== "run" || !message.build) return;
  if (draws && message.html) queueRun(message);
  else scheduleLive();
});
