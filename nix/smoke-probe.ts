// Smoke probe, run with bun (the image's own runtime, so the check needs no curl):
//   bun smoke-probe.ts URL EXPECT TIMEOUT_SECONDS [APP_PID]
// Polls URL until it answers (EXPECT "ok": a 2xx status; "any": any HTTP status), the app process
// APP_PID exits, or the timeout passes. Exit 0 on an answer, 1 otherwise, with the reason on stderr.
import { readFileSync } from "node:fs";

const [url, expect, timeoutArg, pidArg] = process.argv.slice(2);
if (!url || (expect !== "ok" && expect !== "any") || !timeoutArg) {
  console.error("usage: bun smoke-probe.ts URL ok|any TIMEOUT_SECONDS [APP_PID]");
  process.exit(2);
}
const deadline = Date.now() + Number(timeoutArg) * 1000;
const pid = pidArg ? Number(pidArg) : undefined;

function alive(p: number): boolean {
  try {
    process.kill(p, 0);
  } catch {
    return false;
  }
  try {
    // An exited child not yet reaped by its parent still answers kill(0): look at its state.
    return !/\) Z /.test(readFileSync(`/proc/${p}/stat`, "utf8"));
  } catch {
    return true;
  }
}

let last = "no answer";
for (;;) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000), redirect: "manual" });
    await res.arrayBuffer();
    if (expect === "any" || res.ok) {
      console.error(`smoke: ${url} answered ${res.status}`);
      process.exit(0);
    }
    last = `answered ${res.status}, expected a 2xx status`;
  } catch (err) {
    last = `no HTTP answer (${err instanceof Error ? err.message : String(err)})`;
  }
  if (pid !== undefined && !alive(pid)) {
    console.error(`smoke: the app exited before ${url} answered (is the entry right? does it crash at start?)`);
    process.exit(1);
  }
  if (Date.now() > deadline) {
    console.error(`smoke: ${url}: ${last} after ${timeoutArg} s (does the app listen on $PORT, on 0.0.0.0?)`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 200));
}
