// Layout on a TV: fitting what is shown to the screen. The Wall's grid of tiles sized to the
// screen (long names shrunk before they wrap, never cut), rows and stream entries that do not fit
// above the bottom edge left out whole. Which
// page is shown is paging.js's; this module only measures and sizes. Imported by paging.js.

/** The screen's bottom edge for lists, in px from the top of the viewport. */
export function bottomEdge() {
  return window.innerHeight - 4;
}

/** Names stay readable across a room: at least 28 px at 1080p, never under 25 px. */
export function minFont() {
  return Math.max(25, 28 * window.innerHeight / 1080);
}

/**
 * The largest font (px) a grid of `cells` cells in w x h gives its tiles, with its columns and
 * rows. A red tile takes two cells, one above the other (`reds` of them, so two rows at least).
 */
export function bestGrid(cells, reds, w, h, gap) {
  let best = { font: 0, cols: 1, rows: cells };
  for (let cols = 1; cols <= cells; cols++) {
    const rows = Math.max(reds ? 2 : 1, Math.ceil(cells / cols));
    if (reds > cols * Math.floor(rows / 2)) continue;
    const tw = (w - gap * (cols - 1)) / cols;
    const th = (h - gap * (rows - 1)) / rows;
    // Every line of a tile is at the tile's size (28 px at 1080p at least). A cell holds about
    // 4.4 lines (a green tile: name, when, a running run's bar and time left; a red one, in
    // two: name, newest break, since, who, older reds, fix, progress), ~11 characters a line
    // (longer names wrap).
    const font = Math.min(th / 4.4, tw / 11, window.innerHeight / 10);
    if (font > best.font) best = { font: font, cols: cols, rows: rows };
  }
  return best;
}

/** The room the Wall's tiles have: below their top, to the screen's bottom. */
export function tileRoom(tiles) {
  const gap = Math.max(6, window.innerHeight / 120);
  const top = tiles.getBoundingClientRect().top;
  return { gap: gap, w: tiles.clientWidth, h: window.innerHeight - top - gap };
}

/** Sizes the Wall's grid to `grid` (from bestGrid) in `room` (from tileRoom). */
export function sizeTiles(tiles, grid, room) {
  tiles.style.setProperty("--cols", String(grid.cols));
  tiles.style.setProperty("--rows", String(grid.rows));
  tiles.style.setProperty("--gap", room.gap + "px");
  tiles.style.setProperty("--tile-font", Math.floor(grid.font) + "px");
  tiles.style.setProperty("height", Math.floor(room.h) + "px");
}

/**
 * A tile whose text does not fit (a name longer than a line, more lines than its cell) is
 * shrunk, down to the floor; only then do its words wrap anywhere. Nothing is cut with "…".
 */
export function fitTiles(items, floor) {
  for (const item of items) {
    if (item.style.fontSize) item.style.removeProperty("font-size");
    item.classList.remove("squeezed");
  }
  for (const item of items) {
    if (item.classList.contains("off")) continue;
    const name = item.querySelector(".tile-name .name");
    const over = function () {
      return item.scrollHeight > item.clientHeight + 1 || (!!name && name.scrollWidth > name.clientWidth + 1);
    };
    if (!over()) continue;
    let font = parseFloat(getComputedStyle(item).fontSize);
    while (over() && font > floor) {
      font = Math.max(floor, font * 0.92);
      item.style.fontSize = font + "px";
    }
    if (over()) item.classList.add("squeezed");
  }
}
