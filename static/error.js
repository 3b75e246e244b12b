// buildboard's error page. On a TV nobody is there to press reload: a busy or failing server
// (429, 5xx) is asked again with backoff; a bad address or parameter (other 4xx) goes back to
// the default view after a few seconds. Elsewhere the page waits for a person, except that a
// busy server is still retried. templates/error.html loads it.

const status = Number(document.body.dataset.status) || 500;
const params = new URLSearchParams(location.search);
const tv = params.get("tv") === "1" || sessionStorage.getItem("bb.tv") === "1";
const retry = document.getElementById("retry");
const transient = status === 429 || status >= 500;
// A person reads a bad address's page; anything else is asked again, or left, by itself.
function retryLater() {
  const attempt = Number(sessionStorage.getItem("bb.errorAttempt") || 0);
  sessionStorage.setItem("bb.errorAttempt", String(attempt + 1));
  const seconds = transient ? Math.min(60, 5 * Math.pow(2, attempt)) : 10;
  let target = location.href;
  if (!transient) {
    const keep = new URLSearchParams();
    keep.set("tv", "1");
    target = "/wall?" + keep.toString();
  }
  const at = Date.now() + seconds * 1000;
  function tick() {
    const left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
    retry.textContent = (transient ? "Trying again in " : "Back to the Wall in ") + left + " s";
    if (left <= 0) { location.replace(target); return; }
    setTimeout(tick, 1000);
  }
  tick();
}

if (transient || tv) retryLater();
