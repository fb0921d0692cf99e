// Every registry operation goes through skopeo, called here and nowhere else: argv only, the
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
import { backoffDelay, sleep, type RetryPolicy } from "./retry.ts";

export type RegistryErrorKind =
  | "unauthorized" // wrong or revoked secret
  | "denied" // authenticated, but not allowed (namespace missing, key without registry rights)
  | "not-found" // no such tag or repository
  | "unreachable" // connection refused, unknown host
  | "tls" // certificate not trusted
  | "transient" // 429, 5xx, dropped connection, timeout: worth retrying
  | "failed"; // anything else

export class RegistryError extends OperationError {
  readonly kind: RegistryErrorKind;
  /** skopeo's own message (redacted). */
  readonly detail: string;
  constructor(kind: RegistryErrorKind, message: string, detail: string) {
    super(message);
    this.name = "RegistryError";
    this.kind = kind;
    this.detail = detail;
  }
}

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

/** `skopeo inspect --raw [--config] docker://REF`: the manifest (or config) bytes exactly as stored. */
export function inspectRawArgs(ctx: SkopeoContext, ref: string, config: boolean): string[] {
  return ["inspect", "--raw", ...(config ? ["--config"] : []), "--authfile", ctx.auth.authFile, ...tlsArgs(ctx, ""), `docker://${ref}`];
}

export function listTagsArgs(ctx: SkopeoContext, repository: string): string[] {
  return ["list-tags", "--authfile", ctx.auth.authFile, ...tlsArgs(ctx, ""), `docker://${repository}`];
}

/** `skopeo copy` from a docker-archive or a registry reference to a registry reference. */
export function copyArgs(ctx: SkopeoContext, from: { archive: string } | { ref: string }, to: string, opts: { digestFile?: string }): string[] {
  const argv = ["copy", "--quiet", "--authfile", ctx.auth.authFile, ...tlsArgs(ctx, "dest-")];
  if ("ref" in from) argv.push(...tlsArgs(ctx, "src-"), "--preserve-digests");
  if (opts.digestFile) argv.push("--digestfile", opts.digestFile);
  argv.push("ref" in from ? `docker://${from.ref}` : `docker-archive:${from.archive}`, `docker://${to}`);
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

const TRANSIENT = [
  /\b(?:429|Too Many Requests|toomanyrequests)\b/i,
  /\b50[0-4]\b|Internal Server Error|Bad Gateway|Service Unavailable|\bunavailable\b|Gateway Time-?out/i,
  /\bEOF\b|connection reset|broken pipe|use of closed network connection|server closed|i\/o timeout|TLS handshake timeout|timeout awaiting response|context deadline exceeded|http2: .*(?:GOAWAY|stream error)/i,
];

export function classify(detail: string): RegistryErrorKind {
  if (/\bunauthorized\b|authentication required|invalid username\/password|incorrect username or password/i.test(detail)) return "unauthorized";
  if (/\bdenied\b|\b403\b|forbidden/i.test(detail)) return "denied";
  if (/connection refused|no such host|server misbehaving|network is unreachable|no route to host/i.test(detail)) return "unreachable";
  if (/x509:|certificate|tls: /i.test(detail) && !/TLS handshake timeout/i.test(detail)) return "tls";
  if (/manifest unknown|name unknown|not found|\b404\b|repository name not known/i.test(detail)) return "not-found";
  if (TRANSIENT.some((re) => re.test(detail))) return "transient";
  return "failed";
}

/** What the user should read for each kind of failure: the cause and what to do. */
export function explain(kind: RegistryErrorKind, host: string, what: string, detail: string): string {
  switch (kind) {
    case "unauthorized":
      return (
        `registry ${host} rejected the credentials (unauthorized) while trying to ${what}: check the Scaleway API secret ` +
        `(the registry password of user nologin; SCW_SECRET_KEY or apiSecret in nixway.yaml) and regenerate it in the Scaleway console if it was revoked`
      );
    case "denied":
      return `registry ${host} denied access while trying to ${what} (${detail}): check that the registry namespace exists and that the API key may push to it`;
    case "unreachable":
      return `cannot reach registry ${host} to ${what} (${detail}): check the registry address (nixway.yaml registry/registryNamespace or --registry) and the network; is the registry up?`;
    case "tls":
      return `TLS with registry ${host} failed while trying to ${what} (${detail}): for a registry with a private CA pass --cert-dir DIR holding its ca.crt; for a local test registry --tls-verify=false`;
    case "not-found":
      return `${what}: not found in registry ${host} (${detail})`;
    case "transient":
      return `registry ${host} failed while trying to ${what} (${detail})`;
    default:
      return `skopeo failed to ${what}: ${detail}`;
  }
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
  if (last!.kind === "transient" && attempts > 1) {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    throw new RegistryError(
      "transient",
      `${last!.message}; gave up after ${attempts} attempts over ${secs} s. The registry is overloaded or failing: try again later` +
        (call.host.endsWith(".scw.cloud") ? " and check https://status.scaleway.com" : ""),
      last!.detail,
    );
  }
  throw last!;
}
