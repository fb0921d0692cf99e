// A real registry for tests: Debian's docker-registry (the CNCF distribution registry) on
// 127.0.0.1, a free port, TLS from a self-signed certificate (openssl, subjectAltName IP:127.0.0.1)
// and htpasswd auth (bcrypt, user nologin). Its JSON log is captured to a file so tests can count
// the requests it completed, in particular blob uploads (`PUT .../blobs/uploads/...`).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { freePort } from "./free-port.ts";

export const REGISTRY_USER = "nologin";

export interface RegistryRequest {
  method: string;
  uri: string;
  status: number;
}

export interface BlobUpload {
  /** The digest the upload was committed under (the `digest` query parameter of the final PUT). */
  digest: string;
  uri: string;
}

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  port: number;
  /** A directory holding ca.crt (the self-signed certificate): skopeo --cert-dir / nixway --cert-dir. */
  certDir: string;
  certFile: string;
  keyFile: string;
  /** PEM of the certificate, to trust it from Node clients (the fault proxy). */
  ca: string;
  password: string;
  logFile: string;
  /** Every request the registry completed so far, in order. */
  requests(): RegistryRequest[];
  /** Blob uploads the registry committed so far (HTTP 201 on PUT .../blobs/uploads/...). */
  blobUploads(): BlobUpload[];
  /** A position in the log: pass it to requestsSince / uploadsSince. */
  mark(): number;
  requestsSince(mark: number): RegistryRequest[];
  uploadsSince(mark: number): BlobUpload[];
  /** Resolves once the log has stopped growing for a moment (the last request's line is written after its response). */
  settle(): Promise<void>;
  /** Stops the server, keeping its storage: start() brings it back on the same port (for "registry down" tests). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stops the server and removes every file it used. */
  stop(): Promise<void>;
}

const TOOLS: Record<string, string> = {
  "docker-registry": "apt-get install docker-registry",
  openssl: "apt-get install openssl",
  htpasswd: "apt-get install apache2-utils",
  skopeo: "apt-get install skopeo",
};

/** Fails (never skips) with what to install when a tool the registry tests need is missing. */
export function requireTools(names: string[] = Object.keys(TOOLS)): void {
  const missing = names.filter((n) => spawnSync("sh", ["-c", 'command -v "$1"', "sh", n]).status !== 0);
  if (missing.length) {
    throw new Error(`registry tests need ${missing.join(", ")} on PATH: ${missing.map((m) => TOOLS[m] ?? m).join("; ")}`);
  }
}

export { freePort };

function must(argv: string[], input?: string): void {
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv[0]} failed (${r.status}): ${r.stderr}`);
}

/** A self-signed certificate for 127.0.0.1 (EC P-256: fast to make). */
export function makeCertificate(dir: string): { certFile: string; keyFile: string; certDir: string; ca: string } {
  const certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  must([
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  const certDir = path.join(dir, "certs");
  mkdirSync(certDir);
  const ca = readFileSync(certFile, "utf8");
  writeFileSync(path.join(certDir, "ca.crt"), ca);
  return { certFile, keyFile, certDir, ca };
}

/** GET /v2/ until the registry answers (401 without credentials), or fail after `timeoutMs`. */
async function waitUntilServing(port: number, ca: string, child: ChildProcess, logFile: string, plainHttp = false, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`);
    }
    const status = await new Promise<number>((resolve) => {
      const req = (plainHttp ? http : https).get({ host: "127.0.0.1", port, path: "/v2/", ca, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.on("timeout", () => req.destroy());
    });
    if (status === 401 || status === 200) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on 127.0.0.1:${port} within ${timeoutMs} ms:\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

async function settleFile(file: string, quietMs = 150, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      /* not there yet */
    }
    if (size === last || Date.now() > deadline) return;
    last = size;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

function parseLog(file: string): RegistryRequest[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: RegistryRequest[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line);
    } catch {
      continue;
    }
    // Two lines per request ("authorized request", then "response completed[ with error]"): count the last.
    if (typeof j.msg !== "string" || !j.msg.startsWith("response completed")) continue;
    out.push({ method: String(j["http.request.method"]), uri: String(j["http.request.uri"]), status: Number(j["http.response.status"]) });
  }
  return out;
}

function uploadsOf(requests: RegistryRequest[]): BlobUpload[] {
  return requests
    .filter((r) => r.method === "PUT" && r.status === 201 && /\/blobs\/uploads\//.test(r.uri))
    .map((r) => {
      const q = r.uri.includes("?") ? r.uri.slice(r.uri.indexOf("?") + 1) : "";
      return { digest: new URLSearchParams(q).get("digest") ?? "", uri: r.uri };
    });
}

export interface StartRegistryOptions {
  /** The password of user nologin (default: a random one). Handed to htpasswd on stdin, never on argv. */
  password?: string;
  /**
   * Token authentication (the distribution token spec, as Scaleway's registry does it) instead of
   * htpasswd: the registry answers 401 `Bearer realm=...` and accepts only JWTs signed by the key
   * whose certificate is `rootCertBundle` (see test/helpers/token-server.ts). The password is then
   * the token server's business.
   */
  tokenAuth?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Plain HTTP, no authentication at all (what --tls-verify=false also reaches). */
  plainHttp?: boolean;
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  requireTools();
  const dir = mkdtempSync(path.join(os.tmpdir(), "nixway-registry-"));
  try {
    const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}`;
    const { certFile, keyFile, certDir, ca } = makeCertificate(dir);
    const htpasswdFile = path.join(dir, "htpasswd");
    const r = spawnSync("htpasswd", ["-B", "-i", "-n", REGISTRY_USER], { input: password, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    writeFileSync(htpasswdFile, r.stdout);
    const port = await freePort();
    const storage = path.join(dir, "storage");
    mkdirSync(storage);
    const config = path.join(dir, "config.yml");
    writeFileSync(
      config,
      [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: json",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${storage}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: 127.0.0.1:${port}`,
        ...(opts.plainHttp ? [] : ["  tls:", `    certificate: ${certFile}`, `    key: ${keyFile}`]),
        ...(opts.plainHttp
          ? []
          : opts.tokenAuth
            ? [
                "auth:",
                "  token:",
                `    realm: ${opts.tokenAuth.realm}`,
                `    service: ${opts.tokenAuth.service}`,
                `    issuer: ${opts.tokenAuth.issuer}`,
                `    rootcertbundle: ${opts.tokenAuth.rootCertBundle}`,
              ]
            : ["auth:", "  htpasswd:", "    realm: nixway-test", `    path: ${htpasswdFile}`]),
        "",
      ].join("\n"),
    );
    const logFile = path.join(dir, "registry.log");
    let child: ChildProcess | undefined;

    const launch = async () => {
      const fd = openSync(logFile, "a");
      child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", fd, fd] });
      closeSync(fd);
      await waitUntilServing(port, ca, child, logFile, opts.plainHttp);
    };
    const halt = async () => {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => c.kill("SIGKILL"), 5000);
        c.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        c.kill("SIGTERM");
      });
    };
    // Should the test process die before stop(), take the server down with it.
    const onExit = () => {
      child?.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    };
    process.once("exit", onExit);
    await launch();
    return {
      host: `127.0.0.1:${port}`,
      port,
      certDir,
      certFile,
      keyFile,
      ca,
      password,
      logFile,
      requests: () => parseLog(logFile),
      blobUploads: () => uploadsOf(parseLog(logFile)),
      mark: () => parseLog(logFile).length,
      requestsSince: (mark) => parseLog(logFile).slice(mark),
      uploadsSince: (mark) => uploadsOf(parseLog(logFile).slice(mark)),
      settle: () => settleFile(logFile),
      pause: halt,
      resume: launch,
      async stop() {
        process.off("exit", onExit);
        await halt();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface NixwayProcess {
  child: ChildProcess;
  /** Resolves when the process has exited, with everything it printed. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

const BIN = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "..", "bin", "nixway.js");

/**
 * `node bin/nixway.js ARGV` as a real child process with exactly `env` (what users run; needed where a
 * test looks at the process from outside: /proc, signals, its TMPDIR). Killed after `timeoutMs`.
 */
export function spawnNixway(argv: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): NixwayProcess {
  const child = spawn(process.execPath, [BIN, ...argv], { env: opts.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}
