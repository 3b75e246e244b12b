// Who this browser acts as, as /api/operator says: one request shared by the modules that add
// buttons for a signed-in operator or person (static/claim.js, static/dispatch.js), each of
// which then asks of the answer what it needs.

/** The session {operator: name, person: bool, csrf, repos}, or null when signed out (or on error). */
export async function session() {
  try {
    const response = await fetch("/api/operator", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const me = response.ok ? await response.json() : null;
    return me && me.csrf ? me : null;
  } catch {
    return null;
  }
}
