// Claiming a red ("alice is on it"): the Claim / Release button beside each red on the Wall and
// in Triage. The server renders the same claim markup for every viewer (templates/claim.html);
// this module asks /api/operator who this browser acts as (a person signed in with GitHub, or an
// operator) and only then adds buttons, never in TV mode. A click POSTs (claim) or DELETEs
// (release) /api/reds/<first red run>/claim with the session's CSRF token. Every screen redraws
// when a `claim` message arrives on the feed (static/app.js passes each message on as
// `bb:message`). Loaded by every board page, a TV's too (which redraws but gets no buttons).

import { resync } from "./app.js";
import { session } from "./operator.js";

const ENDPOINT = (firstRed) => "/api/reds/" + encodeURIComponent(firstRed) + "/claim";

/** Who this browser acts as: {operator: name, person: bool, csrf}, or null. */
async function whoActs() {
  const me = await session();
  return me && me.operator ? me : null;
}

/** The button a claim spot gets for `me`: claim, release, or none. */
function buttonFor(spot, me) {
  const holder = spot.dataset.claimedBy || "";
  const claimed = spot.classList.contains("claimed");
  if (!claimed) return { verb: "POST", label: "Claim" };
  if (holder === me.operator || !me.person) return { verb: "DELETE", label: "Release" };
  return null;
}

function decorate(root, me) {
  root.querySelectorAll(".claim[data-first-red]:not([data-decorated])").forEach((spot) => {
    spot.dataset.decorated = "1";
    const which = buttonFor(spot, me);
    if (!which) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "claim-button";
    button.textContent = which.label;
    button.dataset.verb = which.verb;
    spot.appendChild(document.createTextNode(" "));
    spot.appendChild(button);
  });
}

async function send(button, me) {
  const spot = button.closest(".claim");
  button.disabled = true;
  try {
    const response = await fetch(ENDPOINT(spot.dataset.firstRed), {
      method: button.dataset.verb,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": me.csrf, Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    const message = body.message || (body.error && body.error.message) ||
      "the server answered " + response.status;
    button.title = message;
    if (!response.ok) button.textContent = message;
  } catch {
    button.title = "The board could not be reached; try again.";
  }
  button.disabled = false;
  redraw();
}

function redraw() {
  resync();
}

function start(me) {
  document.body.classList.add("can-claim");
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button.claim-button");
    if (button) {
      event.preventDefault();
      send(button, me);
    }
  });
  decorate(document, me);
  // Live updates replace parts of the page: decorate what arrives.
  new MutationObserver(() => decorate(document, me))
    .observe(document.body, { childList: true, subtree: true });
}

document.addEventListener("bb:message", (event) => {
  if (event.detail && event.detail.type === "claim") redraw();
});

const tv = document.body && document.body.dataset.tv === "1";
if (!tv) {
  whoActs().then((me) => { if (me) start(me); });
}
