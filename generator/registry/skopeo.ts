// skopeo, called here and nowhere else: it uploads blobs (a push of an image the registry does not
// have yet) and lists tags; manifests go through nixway's own HTTP client (http.ts). Argv only, the
// credentials in an auth file (never --creds), the secret's environment variables removed from
// its environment, its messages redacted, failures classified into errors that say what to do,
// and transient failures (429, 5xx, dropped connections, timeouts) retried with bounded backoff.
import { existsSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { OperationError } from "../diagnostics.ts";
import { run, type RunResult } from "../proc.ts";
import type { RegistryAuth } from "./auth.ts";
import { interruptibleSignal } from "./cleanup.ts";
import { classify, explain, gaveUp, RegistryError } from "./errors.ts";
import { backoffDelay, sleep, type RetryPolicy } from "./retry.ts";

export { classify, explain, RegistryError, type RegistryErrorKind } from "./errors.ts";

export interface SkopeoContext {
  auth: RegistryAuth;
  /** false = plain HTTP or unverified TLS (a local test registry). */
  tlsVerify: boolean;
  /** Directory of CA certificates (*.crt) for the registry, e.g. a test registry's self-signed one. */
  certDir: string | undefined;
  /** The complete environment of skopeo (the caller removed the secret's variables). */
  env: NodeJS.ProcessEnv;
  retry: RetryPolicy;
  signal?: AbortSignal;
  /** Progress and retry notes, for stderr. */
  log: (line: string) => void;
}

const POLICY_FILES = ["/etc/containers/policy.json"];

/**
 * skopeo copy refuses to run without a signature policy file; Debian installs one, some Nix or macOS
 * setups do not. Then use an explicit accept-anything policy (what the stock file says) from the
 * private directory rather than fail.
 */
function policyArgs(ctx: SkopeoContext): string[] {
  const home = ctx.env.HOME ?? os.homedir();
  const userPolicy = path.join(ctx.env.XDG_CONFIG_HOME ?? path.join(home, ".config"), "containers", "policy.json");
  if ([userPolicy, ...POLICY_FILES].some((f) => existsSync(f))) return [];
  const file = path.join(ctx.auth.tmpDir, "..", "policy.json");
  if (!existsSync(file)) writeFileSync(file, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }) + "\n", { mode: 0o600 });
  return ["--policy", file];
}

function tlsArgs(ctx: SkopeoContext, prefix: "" | "src-" | "dest-"): string[] {
  const out: string[] = [];
  if (!ctx.tlsVerify) out.push(`--${prefix}tls-verify=false`);
  if (ctx.certDir) out.push(`--${prefix}cert-dir`, ctx.certDir);
  return out;
}

export function listTagsArgs(ctx: SkopeoContext, repository: string): string[] {
  return ["list-tags", "--authfile", ctx.auth.authFile, ...tlsArgs(ctx, ""), `docker://${repository}`];
}

/** `skopeo copy` of a docker-archive to a registry reference (blobs, then the manifest). */
export function copyArgs(ctx: SkopeoContext, from: { archive: string }, to: string, opts: { digestFile?: string }): string[] {
  const argv = ["copy", "--quiet", "--authfile", ctx.auth.authFile, ...tlsArgs(ctx, "dest-")];
  if (opts.digestFile) argv.push("--digestfile", opts.digestFile);
  argv.push(`docker-archive:${from.archive}`, `docker://${to}`);
  return argv;
}

/** skopeo's fatal line is `time=... level=fatal msg="..."`: the quoted message, unescaped. */
export function skopeoMessage(stderr: string): string {
  const lines = stderr.trim().split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /level=(?:fatal|error) msg="((?:[^"\\]|\\.)*)"/.exec(lines[i]);
    if (m) {
      let msg: string;
      try {
        msg = JSON.parse(`"${m[1]}"`) as string;
      } catch {
        msg = m[1];
      }
      return tidy(msg);
    }
  }
  return tidy(lines.filter((l) => l.trim()).slice(-3).join(" ").trim()) || "no error message";
}

/** Drops skopeo's misleading wrapper ("Error parsing image name ...") and upload-session query strings from URLs. */
function tidy(msg: string): string {
  return msg
    .replace(/^Error parsing image name "[^"]*": /, "")
    .replace(/^Error listing repository tags: /, "")
    .replace(/(https?:\/\/[^\s"?]+)\?[^\s"]*/g, "$1");
}

export interface SkopeoCall {
  /** skopeo arguments after the global options, e.g. ["inspect", "--raw", ...]. */
  args: string[];
  /** The registry host, for messages. */
  host: string;
  /** What is being done, for messages: "push hello:c-... ", "list the tags of ...". */
  what: string;
  timeoutMs?: number;
}

/** Runs skopeo, retrying transient failures; throws RegistryError with an explanation otherwise. */
export async function skopeo(ctx: SkopeoContext, call: SkopeoCall): Promise<RunResult> {
  const argv = ["skopeo", ...policyArgs(ctx), "--tmpdir", ctx.auth.tmpDir, ...call.args];
  const { attempts } = ctx.retry;
  const started = Date.now();
  let last: RegistryError | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const interrupt = interruptibleSignal(ctx.signal);
    let result: RunResult;
    try {
      result = await run(argv, { env: ctx.env, signal: interrupt.signal, timeoutMs: call.timeoutMs });
    } catch (err) {
      if ((err as Error).message?.includes("command not found")) {
        throw new OperationError("skopeo is not installed or not on PATH: install it (nix develop provides it; Debian: apt-get install skopeo)");
      }
      throw err;
    } finally {
      interrupt.release();
    }
    if (result.code === 0) return result;
    const detail =
      result.signal && call.timeoutMs
        ? `no answer within ${Math.round(call.timeoutMs / 1000)} s (timeout)`
        : ctx.auth.secret.redact(skopeoMessage(result.stderr));
    const kind = result.signal && call.timeoutMs ? "transient" : classify(detail);
    last = new RegistryError(kind, ctx.auth.secret.redact(explain(kind, call.host, call.what, detail)), detail);
    if (kind !== "transient" || attempt === attempts) break;
    const delay = backoffDelay(ctx.retry, attempt);
    ctx.log(`registry ${call.host}: ${detail}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${attempts})`);
    await sleep(delay, ctx.signal);
  }
  if (last!.kind === "transient" && attempts > 1) throw gaveUp(last!, attempts, started, call.host);
  throw last!;
}
