// Paging on a TV: what does not fit one screen is shown a page at a time, and every page is shown
// before the rotation moves on (rotation.js turns the pages). Three kinds of page:
// - the Wall: every red tile on every page (the answer never pages away), the other tiles paged
//   in the room left; if even the reds alone do not fit, pages of tiles as if all red;
// - lists (Triage's reds, the people, a person's runs): as many items as fit above the bottom
//   edge; a new break being held shows its item's page;
// - blocks (the Waterfall's repositories): a container marked `data-page-blocks` holds blocks,
//   each a key shared by its column heads (`data-block` + `data-col`), its label (`data-block` +
//   `data-block-label`) and its rows (`data-block` + `data-block-row`, cells `data-col`). Whole
//   blocks are packed into pages as wide as the screen (`--col-w` a column, `--page-reserve` kept
//   for the row's own head), in the server's order. Pages are assigned once per round of pages:
//   a redraw (a live part, a live run) keeps every known block on its page and adds new blocks
//   after the others, so no page is re-packed while shown; only once every page was shown (or
//   the screen's size changed) are they packed afresh.
// Loaded by TV pages (through rotation.js).

import { maxRows, tv, view } from "./board.js";
import { markFresh } from "./alerts.js";
import { bestGrid, bottomEdge, fitStream, fitTiles, minFont, sizeTiles, tileRoom } from "./layout.js";

let page = 0;
let pages = 1;

/** The number of pages of this view (1: it fits). */
export function pageCount() {
  return pages;
}

function showPager(id, text) {
  const pager = document.getElementById(id);
  if (pager && pager.textContent !== text) pager.textContent = text;
}

function pagerText(count) {
  return count > 1 ? "page " + (page % count + 1) + " of " + count : "";
}

// ---- the Wall ----------------------------------------------------------------------------------

function layoutWall() {
  const tiles = document.getElementById("tiles");
  if (!tiles) { pages = 1; showPager("wall-pager", ""); return; }
  const items = tiles.children;
  const count = items.length;
  const room = tileRoom(tiles);
  const floor = minFont();
  const grid = (cells, reds) => bestGrid(cells, reds, room.w, room.h, room.gap);
  let reds = 0;
  while (reds < count && items[reds].dataset.state === "red") reds += 1;
  let shown = count - reds;
  let best = grid(2 * reds + shown, reds);
  while (best.font < floor && shown > 1) {
    shown -= 1;
    best = grid(2 * reds + shown, reds);
  }
  let pinned = reds;
  let per = shown;
  if (best.font < floor && reds > 1) {
    pinned = 0;
    per = count;
    while (per > 1 && grid(2 * per, per).font < floor) per -= 1;
  }
  pages = Math.max(1, Math.ceil((count - pinned) / Math.max(1, per)));
  per = Math.ceil((count - pinned) / pages);
  sizeTiles(tiles, pinned ? grid(2 * pinned + per, pinned) : grid(2 * per, per), room);
  page = page % pages;
  for (let i = 0; i < count; i++) {
    const on = i < pinned || Math.floor((i - pinned) / per) === page;
    items[i].classList.toggle("off", !on);
  }
  markFresh(items);
  showPager("wall-pager", pagerText(pages));
  fitTiles(items, floor);
}

// ---- lists -------------------------------------------------------------------------------------

// The index of each page's first item of `items`, as many as fit `room` below the first.
function listPages(items, room) {
  const starts = [0];
  let origin = items[0].getBoundingClientRect().top;
  for (let i = 0; i < items.length; i++) {
    const rect = items[i].getBoundingClientRect();
    if (rect.bottom - origin > room && i > starts[starts.length - 1]) {
      starts.push(i);
      origin = rect.top;
    }
  }
  return starts;
}

function layoutLists() {
  let most = 1;
  const bottom = bottomEdge();
  for (const list of document.querySelectorAll("#reds, #people, .dev-recent tbody, .dev-now .stream-list")) {
    const items = Array.prototype.filter.call(list.children, (el) => el.tagName !== "SCRIPT");
    for (const item of items) item.classList.remove("off");
    if (!items.length) continue;
    const starts = listPages(items, bottom - list.getBoundingClientRect().top);
    const count = starts.length;
    most = Math.max(most, count);
    // A new break being held: its item is marked, and its page shown.
    const heldAt = markFresh(items).indexOf(true);
    if (heldAt >= 0) {
      let p = 0;
      while (p + 1 < count && starts[p + 1] <= heldAt) p += 1;
      page = p;
    }
    const shown = page % count;
    const from = starts[shown], to = shown + 1 < count ? starts[shown + 1] : items.length;
    for (let i = 0; i < items.length; i++) items[i].classList.toggle("off", i < from || i >= to);
  }
  showPager("pager", pagerText(most));
  return most;
}

// ---- blocks ------------------------------------------------------------------------------------

// Each known block's page, kept for a round of pages (null: pack afresh).
let assigned = null;
// The screen's measures, read once per size of window: a redrawn container (whose new rows are
// not drawn until placed here, see app.css) is packed without laying anything out.
let measures = null;
// The packing in force: page of each block and column, pages in use, the shown page's rows.
let packed = null;

function cssLength(el, name, rem) {
  const value = getComputedStyle(el).getPropertyValue(name).trim();
  const n = parseFloat(value);
  if (isNaN(n)) return 0;
  return value.endsWith("rem") ? n * rem : n;
}

function measure(container) {
  if (measures) return measures;
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const width = container.clientWidth;
  const colW = cssLength(container, "--col-w", rem);
  const reserve = Math.max(cssLength(container, "--page-reserve", rem), width * 0.22);
  measures = { fits: Math.max(1, Math.floor((width - reserve + 1) / (colW + 1))) };
  return measures;
}

// The blocks in the container, in the server's order, with their column heads.
function blocksOf(container) {
  const blocks = [];
  const byKey = new Map();
  for (const col of container.querySelectorAll("[data-block][data-col]")) {
    let block = byKey.get(col.dataset.block);
    if (!block) { block = { key: col.dataset.block, cols: [] }; byKey.set(block.key, block); blocks.push(block); }
    block.cols.push(col);
  }
  return blocks;
}

// Pages for `blocks`: known blocks keep theirs (first, so their room is theirs), new ones go
// after the last page's blocks, on a page of their own when they do not fit there.
function assign(blocks, fits) {
  if (!assigned) assigned = new Map();
  const used = new Map();
  const place = new Map();
  let last = 0;
  const put = function (block, p) {
    const taken = used.get(p) || 0;
    const shown = Math.max(0, Math.min(block.cols.length, fits - taken));
    assigned.set(block.key, p);
    used.set(p, taken + shown);
    place.set(block.key, { page: p, shown: shown });
    last = Math.max(last, p);
  };
  for (const block of blocks) {
    if (!assigned.has(block.key)) continue;
    const p = assigned.get(block.key);
    // A known block with no room left on its page (its page's others grew) is placed anew.
    if ((used.get(p) || 0) < fits) put(block, p); else assigned.delete(block.key);
  }
  for (const block of blocks) {
    if (assigned.has(block.key)) continue;
    const taken = used.get(last) || 0;
    put(block, taken > 0 && taken + Math.min(block.cols.length, fits) > fits ? last + 1 : last);
  }
  return place;
}

function setPage(el, p) {
  if (el.dataset.page !== String(p)) el.dataset.page = String(p);
}

// A new or redrawn row: its page, its page's cells only.
function placeRow(tr) {
  const p = packed.blockPage.get(tr.dataset.block);
  const at = p === undefined ? -1 : p;
  setPage(tr, at);
  tr.dataset.tvPage = String(at);
  for (const td of Array.prototype.slice.call(tr.children)) {
    if (td.dataset.col === undefined) continue;
    if (packed.colPage.get(td.dataset.col) !== at) td.remove(); else setPage(td, at);
  }
}

function pack(container) {
  const rows = container.querySelector("[data-block-rows]");
  const blocks = blocksOf(container);
  const place = assign(blocks, measure(container).fits);
  const blockPage = new Map();
  const colPage = new Map();
  for (const block of blocks) {
    const { page: p, shown } = place.get(block.key);
    blockPage.set(block.key, p);
    block.cols.forEach(function (col, i) {
      const at = i < shown ? p : -1;
      colPage.set(col.dataset.col, at);
      setPage(col, at);
    });
  }
  for (const label of container.querySelectorAll("[data-block][data-block-label]")) {
    const at = place.get(label.dataset.block);
    if (!at) continue;
    setPage(label, at.page);
    if (label.colSpan !== at.shown) label.colSpan = at.shown;
    if (label.style.getPropertyValue("--span") !== String(at.shown)) label.style.setProperty("--span", String(at.shown));
  }
  const inUse = Array.from(new Set(blockPage.values())).sort((a, b) => a - b);
  packed = { rows: rows, blockPage: blockPage, colPage: colPage, inUse: inUse, shown: -1, fit: Infinity, keep: maxRows };
  if (rows) for (const tr of Array.prototype.slice.call(rows.children)) placeRow(tr);
  return Math.max(1, inUse.length);
}

// Shows the current page: its labels, columns and rows, the rows that fit above `bottom`.
function showBlockPage(container, bottom) {
  const shown = packed.inUse.length ? packed.inUse[page % packed.inUse.length] : 0;
  packed.shown = shown;
  for (const el of container.querySelectorAll("[data-block][data-col], [data-block][data-block-label]")) {
    const off = Number(el.dataset.page) !== shown;
    if (el.classList.contains("off") !== off) el.classList.toggle("off", off);
  }
  const rows = [];
  for (const tr of packed.rows ? packed.rows.children : []) {
    const mine = Number(tr.dataset.page) === shown;
    if (mine) rows.push(tr);
    if (tr.classList.contains("off") === mine) tr.classList.toggle("off", !mine);
  }
  // One read of the layout: the rows past the bottom edge are left out, whole.
  packed.fit = rows.length;
  let height = 0;
  for (let i = 0; i < rows.length; i++) {
    const rect = rows[i].getBoundingClientRect();
    if (!height) height = rect.height;
    if (rect.bottom > bottom) { packed.fit = i; break; }
  }
  for (let i = packed.fit; i < rows.length; i++) rows[i].classList.add("off");
  // Rows kept per page: what fits, and a few to spare when a row is cut short by a re-run.
  const first = rows.length ? rows[0].getBoundingClientRect().top : 0;
  const room = height > 0 ? Math.floor((bottom - first) / height) : 0;
  packed.keep = Math.max(maxRows, room + 2);
}

// A frame's live rows: new rows placed, each page's rows trimmed, the shown page fitted again.
function liveBlocks(bottom) {
  if (!packed.rows) return;
  const perPage = new Map();
  const rows = [];
  let changed = false;
  for (const tr of Array.prototype.slice.call(packed.rows.children)) {
    if (tr.dataset.tvPage === undefined) { placeRow(tr); changed = true; }
    const p = Number(tr.dataset.page);
    const n = (perPage.get(p) || 0) + 1;
    perPage.set(p, n);
    if (n > packed.keep || p < 0) { tr.remove(); continue; }
    if (p === packed.shown) rows.push(tr);
    else if (!tr.classList.contains("off")) tr.classList.add("off");
  }
  if (!changed && !rows.length) return;
  // Newest first: as many as fitted before, then one read to cut what a taller row pushed out.
  for (let i = 0; i < rows.length; i++) {
    const off = i >= packed.fit;
    if (rows[i].classList.contains("off") !== off) rows[i].classList.toggle("off", off);
  }
  let last = Math.min(packed.fit, rows.length) - 1;
  while (last >= 0 && rows[last].getBoundingClientRect().bottom > bottom) {
    rows[last].classList.add("off");
    last -= 1;
  }
}

// The height of the container's foot (`data-page-foot`, "+N more"), read at each full layout.
let footHeight = 0;

// Blocks on a TV: `full` packs and shows the page; otherwise only the frame's changes.
function layoutBlocks(container, full) {
  const bottom = bottomEdge();
  if (full || !packed) {
    pages = pack(container);
    // The foot stays on screen below the rows: they stop above it.
    const foot = document.querySelector("[data-page-foot]");
    footHeight = foot ? foot.getBoundingClientRect().height + 4 : 0;
    showBlockPage(container, bottom - footHeight);
    fitStream(bottom, true);
  } else {
    liveBlocks(bottom - footHeight);
    fitStream(bottom, false);
  }
  showPager("pager", pagerText(pages));
}

// ---- the page ----------------------------------------------------------------------------------

/** Lays the view out for the current page; `part` is what was redrawn (none: everything). */
export function layout(part) {
  if (view === "wall") { layoutWall(); return; }
  const container = document.querySelector("[data-page-blocks]");
  // Live runs and figures: only what changed; the whole grid redrawn, a resize or a new page:
  // packed and fitted again.
  if (container) layoutBlocks(container, part !== "runs" && part !== "hud");
  else pages = layoutLists();
}

/** The next page. Once the pages came round, blocks are packed afresh for the next round. */
export function turn() {
  page = (page + 1) % pages;
  if (page === 0) assigned = null;
  layout();
}

if (tv) {
  // Synchronously, before the redrawn part is painted: a redrawn Wall never shows unsized or
  // without its highlight. (Updates already come at most once per frame or per fetched part.)
  document.addEventListener("bb:updated", function (event) { layout(event.detail); });
  window.addEventListener("resize", function () {
    measures = null;
    assigned = null;
    layout();
  });
  layout();
}
