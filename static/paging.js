// Paging on a TV: what does not fit one screen is shown a page at a time, and every page is shown
// before the rotation moves on (rotation.js turns the pages). Three kinds of page:
// - the Wall: every red tile on every page (the answer never pages away), the other tiles paged
//   in the room left; if even the reds alone do not fit, pages of tiles as if all red;
// - lists (Triage's reds, the people, a person's runs): as many items as fit above the bottom
//   edge; a new break being held shows its item's page;
// - the Waterfall's repositories (`#repos`) are such a list: blocks in name order, each a fixed
//   number of rows, so a redraw (a live part every few seconds) keeps every block on its page and
//   no page is re-packed while shown; a new repository or workflow moves the blocks after it.
// Loaded by TV pages (through rotation.js).

import { tv, view } from "./board.js";
import { markFresh } from "./alerts.js";
import { bestGrid, bottomEdge, fitTiles, minFont, sizeTiles, tileRoom } from "./layout.js";

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
  for (const list of document.querySelectorAll("#reds, #people, #repos, .dev-recent tbody, .dev-now .stream-list")) {
    const items = Array.prototype.filter.call(list.children, (el) => el.tagName !== "SCRIPT");
    for (const item of items) item.classList.remove("off", "alone");
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
    if (list.id === "repos") markAlone(items.slice(from, to));
  }
  showPager("pager", pagerText(most));
  return most;
}

// The TV Waterfall's blocks sit two a row, a wide one alone. A narrow block left without a
// partner in its row (the last of its page, or one before a wide block) is marked to take the
// whole row rather than leave half the screen empty.
function markAlone(shown) {
  let waiting = null;
  for (const block of shown) {
    if (block.classList.contains("wide")) {
      if (waiting) waiting.classList.add("alone");
      waiting = null;
    } else {
      waiting = waiting ? null : block;
    }
  }
  if (waiting) waiting.classList.add("alone");
}

// ---- the page ----------------------------------------------------------------------------------

/** Lays the view out for the current page (after any redraw, a resize or a new page). */
export function layout() {
  if (view === "wall") { layoutWall(); return; }
  pages = layoutLists();
}

/** The next page. Once the pages came round, blocks are packed afresh for the next round. */
export function turn() {
  page = (page + 1) % pages;
  layout();
}

if (tv) {
  // Synchronously, before the redrawn part is painted: a redrawn Wall never shows unsized or
  // without its highlight. (Updates already come at most once per frame or per fetched part.)
  document.addEventListener("bb:updated", function () { layout(); });
  window.addEventListener("resize", function () { layout(); });
  layout();
}
