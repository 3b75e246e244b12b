// The Waterfall's live runs: each `run` message of the feed carries the server-rendered cell, row,
// column head and stream entry for it (src/feed.rs), which are put in place here, a burst at once.
// Whether a run belongs on this page is the server's answer, never a second filter here: the
// page's `data-live-runs` is `draw` when the page shows every run the feed sends it (the feed
// already holds only what this viewer may read), and `fetch` when the page's filter narrows it
// (then each run redraws the live part from the server's shared render). The Waterfall loads it.

import { ds, emit, fragment, maxRows, maxStream, tv } from "./board.js";
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

// Puts a row's lane cells in the header's column order, adding empty ones where it has none. On a
// TV only its block's page's columns (paging.js keeps a row no other cells).
function alignRow(head, row, repo) {
  const cells = new Map();
  for (const cell of row.children) if (cell.dataset.lane) cells.set(cell.dataset.lane, cell);
  let page = null;
  if (tv && repo) {
    const own = head.querySelector('th[data-lane][data-block="' + CSS.escape(repo) + '"]');
    if (own) page = own.dataset.page;
  }
  for (const th of head.querySelectorAll("th[data-lane]")) {
    if (page !== null && th.dataset.page !== page) continue;
    let cell = cells.get(th.dataset.lane);
    if (!cell) {
      cell = document.createElement("td");
      cell.className = "lane";
      cell.dataset.lane = th.dataset.lane;
      cell.dataset.col = th.dataset.col;
      if (th.dataset.page) cell.dataset.page = th.dataset.page;
    }
    row.appendChild(cell);
  }
}

// Adds the column for a workflow not on the page yet, inside its repository's group, in name
// order. Returns false when the server must lay the grid out again instead: a repository not on
// the page (its group and header row), or a TV (whose pages hold whole repositories).
function ensureLane(head, grid, build, html) {
  const lane = String(build.workflow_id);
  if (head.querySelector('th[data-lane="' + CSS.escape(lane) + '"]')) return true;
  const lanes = head.querySelectorAll("th[data-lane]");
  const siblings = Array.prototype.filter.call(lanes, function (th) {
    return th.dataset.block === build.repo;
  });
  if (tv || (lanes.length > 0 && siblings.length === 0)) return false;
  const th = fragment(html);
  const after = siblings.filter(function (other) {
    return other.dataset.name <= build.workflow;
  }).pop();
  if (after) after.after(th);
  else if (siblings.length) siblings[0].before(th);
  else head.appendChild(th);
  const group = document.querySelector('#grid-groups th[data-block="' + CSS.escape(build.repo) + '"]');
  if (group) group.colSpan += 1;
  for (const row of grid.rows) alignRow(head, row);
  return true;
}

function insertRow(grid, row) {
  const time = Number(row.dataset.time);
  let placed = false;
  for (const other of grid.rows) {
    if (Number(other.dataset.time) < time) {
      grid.insertBefore(row, other);
      placed = true;
      break;
    }
  }
  if (!placed) grid.appendChild(row);
  // A TV keeps rows per page of repositories (paging.js trims them); a desktop the newest.
  while (!tv && grid.rows.length > maxRows) grid.deleteRow(-1);
  const empty = document.getElementById("grid-empty");
  if (empty) empty.remove();
}

function applyRun(message, streamed) {
  const build = message.build;
  const html = message.html;
  const grid = document.getElementById("grid-body");
  const head = document.getElementById("grid-head");
  if (grid && head) {
    const existing = grid.querySelector('[data-run-id="' + CSS.escape(String(build.id)) + '"]');
    const lane = String(build.workflow_id);
    const key = build.repo + "@" + build.sha;
    const row = grid.querySelector('tr[data-commit="' + CSS.escape(key) + '"]');
    if (existing) {
      existing.replaceWith(fragment(html.cell));
    } else if (!ensureLane(head, grid, build, html.lane)) {
      scheduleLive();
    } else if (row) {
      // A TV leaves a column out that does not fit its screen: its runs are not drawn.
      const cell = laneCell(row, lane);
      if (cell) cell.appendChild(fragment(html.cell));
    } else {
      const fresh = fragment(html.row);
      alignRow(head, fresh, build.repo);
      insertRow(grid, fresh);
    }
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
