// Stops the sampler: it posts what it holds and exits.
"use strict";
const pid = Number(process.env.STATE_pid);
if (pid > 0) {
  try { process.kill(pid, "SIGTERM"); } catch { console.log("sampler already gone"); }
  const until = Date.now() + 10000;
  const wait = () => {
    try { process.kill(pid, 0); } catch { return; }
    if (Date.now() < until) setTimeout(wait, 200);
  };
  wait();
}
