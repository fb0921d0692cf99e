import path from "node:path";
import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { UsageError } from "../diagnostics.ts";
import { findRoot, loadService } from "../repo.ts";
import { CAUSE_TITLES, smokeRun, type SmokeResult } from "../smoke.ts";

export const command: Command = {
  name: "smoke",
  summary: "start a service locally (or its image, chrooted) and check it answers on PORT: the local cold start",
  help: `Usage: nixway smoke SERVICE [--archive PATH] [--json] [--timeout SECONDS] [--stack NAME] [--port N] [--root DIR]

Starts the service the way Scaleway would (PORT set, the service's environmentVariables,
no secrets) and waits for an HTTP answer on its health path (healthCheck.path, else /).
Reports the time to the first answer (the local cold-start figure) and the peak resident
memory of the process tree against memoryLimit.

Without --archive, the app directory runs with bun ($NIXWAY_BUN, else node_modules/.bin/bun,
else bun on PATH). With --archive, the docker-archive's layers are unpacked into a private
temporary root and the image's Entrypoint/Cmd runs there with its Env, User and WorkingDir,
chrooted (needs root and unshare; otherwise says so and runs the app directory instead).

On failure, exits 1 naming the runbook cause:
  port mismatch          the process is up but nothing answers on PORT (says where it listens)
  entrypoint crash       the process exited (its last output is shown)
  memory limit exceeded  resident memory went over memoryLimit (the process is killed)
  health path not 2xx    the health path answered, but never with 2xx

Options:
  --archive PATH     run this docker-archive image (e.g. ./result) instead of the app directory
  --json             print {"ok","firstResponseMs","peakRssMB","cause","detail",...} only
  --timeout SECONDS  deadline for a 2xx answer (default 30)
  --stack NAME       use that stack's memoryLimit and environment variables (default: the service's own)
  --port N           PORT to use instead of the service's port (when that one is busy here)
  --root DIR         repository root (default: nearest ancestor with nixway.yaml or services/)

Exit status: 0 answered in time, 1 failed (or invalid input), 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const { values, positionals } = parseCommandArgs(
      "smoke",
      argv,
      {
        archive: { type: "string" },
        json: { type: "boolean" },
        timeout: { type: "string" },
        stack: { type: "string" },
        port: { type: "string" },
        root: { type: "string" },
      },
      { min: 1, max: 1, names: "SERVICE" },
    );
    const timeoutMs = values.timeout === undefined ? undefined : seconds(values.timeout);
    const port = values.port === undefined ? undefined : portNumber(values.port);
    const root = findRoot(values.root);
    const { service } = await loadService(root, positionals[0]);
    const json = values.json === true;

    // Ctrl-C / SIGTERM: smokeRun kills the process tree and removes its temp root before we exit.
    const abort = new AbortController();
    let signalled: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      signalled = sig;
      abort.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let result: SmokeResult;
    try {
      result = await smokeRun({
        service,
        root,
        archive: values.archive === undefined ? undefined : path.resolve(values.archive),
        stack: values.stack,
        port,
        timeoutMs,
        signal: abort.signal,
        onProgress: json ? undefined : (line) => io.stderr.write(`smoke ${service.name}: ${line}\n`),
      });
    } catch (err) {
      if (signalled) {
        io.stderr.write(`smoke ${service.name}: interrupted; the process was killed and its temp files removed\n`);
        return signalled === "SIGINT" ? 130 : 143;
      }
      throw err;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }

    if (json) {
      io.stdout.write(JSON.stringify(toJson(result)) + "\n");
      return result.ok ? 0 : 1;
    }
    io.stdout.write(formatResult(service.name, result));
    return result.ok ? 0 : 1;
  },
};

function seconds(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0) || n > 3600) throw new UsageError(`smoke: --timeout ${text}: give seconds, more than 0 and at most 3600`);
  return Math.round(n * 1000);
}

function portNumber(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new UsageError(`smoke: --port ${text}: give a TCP port, 1-65535`);
  return n;
}

/** The --json shape: the four agreed fields first, then the rest. */
export function toJson(r: SmokeResult): Record<string, unknown> {
  return {
    ok: r.ok,
    firstResponseMs: r.firstResponseMs,
    peakRssMB: r.peakRssMB,
    cause: r.cause,
    detail: r.detail,
    memoryLimitMB: r.memoryLimitMB,
    mode: r.mode,
    port: r.port,
    healthPath: r.healthPath,
    healthStatus: r.healthStatus,
    listening: r.listening,
    exit: r.exit,
    outputTail: r.outputTail,
    notes: r.notes,
  };
}

export function formatResult(name: string, r: SmokeResult): string {
  const lines: string[] = [];
  for (const n of r.notes) lines.push(`note: ${n}`);
  const memory = r.peakRssMB > 0 ? `peak RSS ${r.peakRssMB} MB of memoryLimit ${r.memoryLimitMB} MB` : `peak RSS not measured (the process ended before the first sample); memoryLimit ${r.memoryLimitMB} MB`;
  if (r.ok) {
    lines.push(`ok: ${name} answered GET ${r.healthPath} on PORT ${r.port} with ${r.healthStatus} after ${r.firstResponseMs} ms (local cold start, ${r.mode === "chroot" ? "image" : "app"} run)`);
    lines.push(memory);
  } else {
    lines.push(`FAILED: ${name}: ${CAUSE_TITLES[r.cause!]}: ${r.detail}`);
    if (r.firstResponseMs !== null) lines.push(`first answer after ${r.firstResponseMs} ms (status ${r.healthStatus})`);
    lines.push(memory);
    if (r.outputTail.length) {
      lines.push("last output:");
      for (const l of r.outputTail) lines.push(`  | ${l}`);
    }
  }
  return lines.join("\n") + "\n";
}
