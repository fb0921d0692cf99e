// The local cold-start check: start the service the way Scaleway would (PORT set, the plain
// environment variables, no secrets), wait for an HTTP answer on the health path, and name the
// runbook cause when it does not come: port mismatch, entrypoint crash, memory limit exceeded,
// health path not 2xx. With an image archive the image itself runs: its layers unpacked into a
// private root, its Entrypoint/Cmd, Env, User and WorkingDir applied, chrooted (as root).
//
// Everything started here is a process group of our own; it is killed, and every temp
// directory removed, whatever happens (deadline, failure, abort via opts.signal).
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, chmodSync, closeSync, constants, openSync, readSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { didYouMean, InputError, OperationError, UsageError } from "./diagnostics.ts";
import { imagePathParts, removeTree, resolveInRoot, unpackImage, type ImageRunConfig } from "./image/unpack.ts";
import { stackOf, type Service, type StackSettings } from "./model.ts";
import { run } from "./proc.ts";

/** The runbook's causes of a container that does not come up (see "Error State Diagnosis"). */
export type SmokeCause = "port-mismatch" | "entrypoint-crash" | "memory-limit-exceeded" | "health-check-failed";

export const CAUSE_TITLES: Record<SmokeCause, string> = {
  "port-mismatch": "port mismatch",
  "entrypoint-crash": "entrypoint crash",
  "memory-limit-exceeded": "memory limit exceeded",
  "health-check-failed": "health path not 2xx",
};

export interface SmokeOptions {
  service: Service;
  /** Absolute repository root (the app directory is service.dir/app.dir under it). */
  root: string;
  /** A docker-archive of the service's image: run the image instead of the app directory. */
  archive?: string;
  /** Whose settings apply (memoryLimit, environment variables); default: the service's own top-level settings. */
  stack?: string;
  /** PORT to give the app; default service.port. */
  port?: number;
  /** Deadline for a 2xx answer on the health path, from the start of the process. Default 30 000. */
  timeoutMs?: number;
  /** How long to keep watching memory and exit after the first 2xx. Default 1 000. */
  settleMs?: number;
  /** The bun binary (app runs); default $NIXWAY_BUN, then node_modules/.bin/bun, then bun on PATH. */
  bun?: string;
  /** Aborting kills the process tree, removes temp directories, and makes smokeRun reject with an AbortError. */
  signal?: AbortSignal;
  /** Progress lines (what is being started), for a CLI to print. */
  onProgress?: (line: string) => void;
}

export interface SmokeResult {
  ok: boolean;
  /** null when ok. */
  cause: SmokeCause | null;
  /** What happened, in words that say what to fix; null when ok. */
  detail: string | null;
  /** Milliseconds from process start to the first HTTP answer on the health path (any status): the local cold-start figure. */
  firstResponseMs: number | null;
  /** Status of the last answer on the health path, if any. */
  healthStatus: number | null;
  /** Peak resident memory of the process tree, MiB (one decimal). */
  peakRssMB: number;
  memoryLimitMB: number;
  /** "chroot": the image ran in its unpacked root; "app": the app directory ran with bun. */
  mode: "app" | "chroot";
  port: number;
  healthPath: string;
  /** What the process tree listened on, e.g. ["0.0.0.0:3000"], when it was looked at. */
  listening: string[];
  /** Exit of the process when it ended by itself. */
  exit: { code: number | null; signal: string | null } | null;
  /** Last lines of the process's stderr (stdout when stderr was empty). */
  outputTail: string[];
  /** Things the reader should know: absent secrets, chroot not possible, skipped image entries. */
  notes: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_SETTLE_MS = 1_000;
const SAMPLE_MS = 50;
const EARLY_SAMPLE_MS = 10;
const PROBE_MS = 50;
const TAIL_LINES = 20;
/** Docker's and runc's PATH when the image sets none. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ---------------------------------------------------------------- /proc readings */

/** Every descendant of `pid` (children, grandchildren...), from /proc/<n>/stat parent links. */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(e));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Summed VmRSS and the largest VmHWM (kernel-kept peak) of the given processes, in KiB. */
export function memoryOf(pids: readonly number[]): { rssKiB: number; hwmKiB: number } {
  let rssKiB = 0;
  let hwmKiB = 0;
  for (const pid of pids) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, "utf8");
    } catch {
      continue;
    }
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (rss) rssKiB += Number(rss[1]);
    if (hwm) hwmKiB = Math.max(hwmKiB, Number(hwm[1]));
  }
  return { rssKiB, hwmKiB };
}

export interface ListeningSocket {
  address: string;
  port: number;
}

/** "0100007F" -> "127.0.0.1"; 32-hex-digit IPv6 likewise (the kernel prints each 32-bit word in host order). */
function procAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)].map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") return bytes.slice(12).join(".");
  const text = groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
  return `[${text}]`;
}

/** The TCP sockets in LISTEN state that the given processes hold open (from their fds and /proc/<pid>/net/tcp{,6}). */
export function listeningSocketsOf(pids: readonly number[]): ListeningSocket[] {
  const inodes = new Set<string>();
  const netPids: number[] = [];
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    netPids.push(pid);
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        /* closed meanwhile */
      }
    }
  }
  const found = new Map<string, ListeningSocket>();
  for (const pid of netPids) {
    for (const table of ["tcp", "tcp6"]) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9])) continue;
        const [addrHex, portHex] = f[1].split(":");
        const s = { address: procAddress(addrHex), port: parseInt(portHex, 16) };
        found.set(`${s.address}:${s.port}`, s);
      }
    }
  }
  return [...found.values()].sort((a, b) => a.port - b.port || a.address.localeCompare(b.address));
}

const isLoopback = (address: string) => address.startsWith("127.") || address === "[::1]";
const showSocket = (s: ListeningSocket) => `${s.address}:${s.port}`;

/* ---------------------------------------------------------------- helpers */

/** Whether something on this machine already answers or listens on `port`: then answers could come from it, not the app. */
export async function portInUse(port: number): Promise<boolean> {
  const connects = await new Promise<boolean>((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
  if (connects) return true;
  return new Promise<boolean>((resolve) => {
    const server = net.createServer();
    // Only "in use" counts: a port we may not bind (EACCES below 1024) is the app's problem to report.
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "EADDRINUSE"));
    server.listen({ port, host: "0.0.0.0", exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/** One GET; the status, or null when nothing HTTP answered. */
function probe(port: number, urlPath: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false, timeout: timeoutMs, headers: { "user-agent": "nixway-smoke" } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(null));
  });
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The bun to run apps with: $NIXWAY_BUN, the repo's node_modules, nixway's own, then PATH. */
export function findBun(root: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.NIXWAY_BUN) {
    if (!isExecutable(env.NIXWAY_BUN)) throw new OperationError(`NIXWAY_BUN=${env.NIXWAY_BUN} is not an executable file`);
    return env.NIXWAY_BUN;
  }
  const own = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "node_modules", ".bin", "bun");
  const candidates = [path.join(root, "node_modules", ".bin", "bun"), own];
  for (const dir of (env.PATH ?? "").split(":").filter(Boolean)) candidates.push(path.join(dir, "bun"));
  const hit = candidates.find(isExecutable);
  if (!hit) throw new OperationError("bun not found (looked in node_modules/.bin and PATH): install it (npm i -D bun) or set NIXWAY_BUN to its path");
  return hit;
}

/** Keeps the last lines written to a stream. */
class Tail {
  private text = "";
  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-16_384);
  }
  lines(): string[] {
    return this.text.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "").slice(-TAIL_LINES);
  }
}

/** Waits for `p`, but no longer than `ms` (and leaves no timer behind to hold the process open). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function abortError(): Error {
  const err = new Error("smoke run aborted");
  err.name = "AbortError";
  return err;
}

/* ---------------------------------------------------------------- chroot support */

/** Whether we can run an image chrooted here; a reason when not. */
async function chrootUnavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return `chroot runs need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return `chroot needs root (running as uid ${process.getuid?.()})`;
  try {
    // Private mount namespace with its own /proc: the same setup the real run uses, tried on `true`.
    const r = await run(["unshare", "--mount", "--propagation", "private", "--mount-proc", "true"], { env: { PATH: process.env.PATH ?? DEFAULT_PATH }, timeoutMs: 10_000 });
    if (r.code !== 0) return `unshare cannot make a mount namespace here (${r.stderr.trim() || `exit ${r.code}`})`;
  } catch (err) {
    return `unshare (util-linux) is not available: ${err instanceof Error ? err.message : err}`;
  }
  return undefined;
}

function readImageFile(root: string, file: string): string | undefined {
  try {
    return readFileSync(resolveInRoot(root, imagePathParts(file), true), "utf8");
  } catch {
    return undefined;
  }
}

/** The image's User resolved like a runtime does, with the image's own /etc/passwd and /etc/group. */
export function resolveImageUser(root: string, user: string): { uid: number; gid: number; home: string } | string {
  const [u, g] = user === "" ? ["0", undefined] : user.split(":", 2);
  const passwd = (readImageFile(root, "/etc/passwd") ?? "").split("\n").map((l) => l.split(":"));
  const groups = (readImageFile(root, "/etc/group") ?? "").split("\n").map((l) => l.split(":"));
  let uid: number;
  let gid: number | undefined;
  let home = "/";
  const byName = passwd.find((f) => f.length >= 7 && f[0] === u);
  const byId = passwd.find((f) => f.length >= 7 && f[2] === u);
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    if (byId) [gid, home] = [Number(byId[3]), byId[5] || "/"];
  } else if (byName) {
    [uid, gid, home] = [Number(byName[2]), Number(byName[3]), byName[5] || "/"];
  } else {
    return `image User "${user}": no user '${u}' in the image's /etc/passwd`;
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const grp = groups.find((f) => f.length >= 3 && f[0] === g);
      if (!grp) return `image User "${user}": no group '${g}' in the image's /etc/group`;
      gid = Number(grp[2]);
    }
  }
  return { uid, gid: gid ?? 0, home };
}

/** Directories and device nodes a container runtime provides; best effort, each note says what is missing. */
async function prepareRuntimeDirs(root: string, notes: string[]): Promise<void> {
  const dir = (p: string, mode: number) => {
    const host = resolveInRoot(root, imagePathParts(p), true);
    if (!host.startsWith(root)) return host;
    if (!existsSync(host)) mkdirSync(host, { recursive: true, mode });
    return host;
  };
  dir("/proc", 0o555);
  chmodSync(dir("/tmp", 0o1777), 0o1777); // mkdir's mode is cut by the umask
  const dev = dir("/dev", 0o755);
  const nodes: [string, string, string][] = [["null", "1", "3"], ["zero", "1", "5"], ["full", "1", "7"], ["random", "1", "8"], ["urandom", "1", "9"]];
  const missing: string[] = [];
  for (const [name, major, minor] of nodes) {
    const p = path.join(dev, name);
    if (existsSync(p)) continue;
    const r = await run(["mknod", "-m", "666", p, "c", major, minor], { env: { PATH: process.env.PATH ?? DEFAULT_PATH } }).catch(() => undefined);
    if (!r || r.code !== 0) missing.push(`/dev/${name}`);
  }
  if (missing.length) notes.push(`could not create ${missing.join(", ")} in the image root (mknod not permitted here)`);
}

/* ---------------------------------------------------------------- the run */

interface Launch {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  mode: "app" | "chroot";
  describe: string;
  /** Why the command could not be executed at all (exit 127), when that can be read from the image. */
  explainNotExecuted?: () => string;
}

function envRecord(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf("=");
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function appLaunch(opts: SmokeOptions, settings: StackSettings, port: number, tmp: string): Launch {
  const { service, root } = opts;
  const appDir = path.join(root, service.dir, service.app.dir);
  const entry = path.join(appDir, service.app.entry);
  if (!existsSync(entry)) throw new InputError(`${service.file}: app.entry ${service.app.entry} does not exist under ${service.dir}/${service.app.dir}`);
  const bun = opts.bun ?? findBun(root);
  mkdirSync(path.join(tmp, "home"), { mode: 0o700 });
  mkdirSync(path.join(tmp, "tmp"), { mode: 0o700 });
  return {
    argv: [bun, service.app.entry],
    cwd: appDir,
    env: {
      PATH: process.env.PATH ?? DEFAULT_PATH,
      HOME: path.join(tmp, "home"),
      TMPDIR: path.join(tmp, "tmp"),
      ...settings.environmentVariables,
      PORT: String(port),
    },
    mode: "app",
    describe: `bun ${path.posix.join(service.dir, service.app.dir, service.app.entry)} (in ${path.posix.join(service.dir, service.app.dir)})`,
  };
}

function chrootLaunch(imageRoot: string, config: ImageRunConfig, settings: StackSettings, port: number): Launch | string {
  const argv = [...config.entrypoint, ...config.cmd];
  if (!argv.length) return "the image config has neither Entrypoint nor Cmd: there is nothing to start";
  const user = resolveImageUser(imageRoot, config.user);
  if (typeof user === "string") return user;
  const wd = config.workingDir || "/";
  const wdHost = resolveInRoot(imageRoot, imagePathParts(wd), true);
  if (wdHost.startsWith(imageRoot) && !existsSync(wdHost)) mkdirSync(wdHost, { recursive: true, mode: 0o755 }); // runtimes create it too
  // Image Env first, then what the platform sets on top: the service's variables and PORT.
  const env: Record<string, string> = { PATH: DEFAULT_PATH, ...envRecord(config.env) };
  if (!("HOME" in env)) env.HOME = user.home;
  Object.assign(env, settings.environmentVariables, { PORT: String(port) });
  const inImage = (p: string) => resolveInRoot(imageRoot, imagePathParts(p), true);
  const explainNotExecuted = (): string => {
    const exe = argv[0];
    let file: string;
    if (exe.includes("/")) file = path.posix.resolve(wd, exe);
    else {
      const hit = (env.PATH ?? "").split(":").map((d) => path.posix.join(d || "/", exe)).find((p) => existsSync(inImage(p)));
      if (!hit) return `${exe} is not on the image's PATH (${env.PATH}); give Cmd an absolute path, e.g. ["/nix/store/…-bun/bin/bun", "/app/index.js"]`;
      file = hit;
    }
    const host = inImage(file);
    if (!existsSync(host)) return `${file} is not in the image`;
    let head = "";
    try {
      const fd = openSync(host, "r");
      try {
        const buf = Buffer.alloc(256);
        head = buf.subarray(0, readSync(fd, buf, 0, 256, 0)).toString("latin1");
      } finally {
        closeSync(fd);
      }
    } catch {
      /* unreadable: reported below */
    }
    if (head.startsWith("#!")) {
      const interpreter = head.slice(2).split("\n")[0].trim().split(/\s+/)[0];
      if (interpreter && !existsSync(inImage(interpreter))) {
        return `${file} starts with #!${interpreter}, which is not in the image (use an explicit Cmd such as ["/nix/store/…-bun/bin/bun", "${file}"])`;
      }
    }
    if (head.startsWith("\x7fELF")) return `${file} is in the image but cannot be executed: its ELF interpreter or a shared library it needs is missing from the image`;
    return `${file} is in the image but cannot be executed (not executable by uid ${user.uid}, or not a program)`;
  };
  return {
    explainNotExecuted,
    argv: [
      "unshare", "--mount", "--propagation", "private", "--mount-proc=/proc",
      `--root=${imageRoot}`, `--wd=${wd}`, `--setgid=${user.gid}`, `--setuid=${user.uid}`, "--", ...argv,
    ],
    cwd: "/",
    env,
    mode: "chroot",
    describe: `the image's ${JSON.stringify(argv)} as uid ${user.uid} gid ${user.gid} in /${imagePathParts(wd).join("/")}, chrooted`,
  };
}

/**
 * Kills the child's process group and, while the child itself has not been reaped (so its pid
 * cannot have been reused), the child and every descendant. Safe to call any number of times.
 */
function killTree(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  const alive = child.exitCode === null && child.signalCode === null;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    /* no such group (already gone) */
  }
  if (!alive) return;
  for (const p of [pid, ...descendantsOf(pid)]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

/**
 * Runs the smoke check. Resolves with a result (ok, or the cause). Rejects with UsageError (unknown
 * stack), InputError (bad archive, missing app entry), OperationError (PORT busy here, bun not found),
 * or an error named AbortError when opts.signal aborts; the process tree and temp files are gone by then.
 */
export async function smokeRun(opts: SmokeOptions): Promise<SmokeResult> {
  const { service } = opts;
  const settings = opts.stack === undefined ? service : stackOf(service, opts.stack);
  if (!settings) {
    const declared = Object.keys(service.stacks);
    const guess = didYouMean(opts.stack!, declared);
    throw new UsageError(`${service.name} has no stack '${opts.stack}'${guess ? `; did you mean '${guess}'?` : ""} (declared in ${service.file}: ${declared.join(", ")})`);
  }
  const port = opts.port ?? service.port;
  const healthPath = service.healthCheck?.path ?? "/";
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  const limitKiB = settings.memoryLimit * 1024;
  const notes: string[] = [];
  const progress = opts.onProgress ?? (() => {});
  if (opts.signal?.aborted) throw abortError();

  const secrets = Object.keys(service.secretEnvironmentVariables);
  if (secrets.length) notes.push(`secrets are not set in a smoke run: ${secrets.join(", ")} ${secrets.length === 1 ? "is" : "are"} absent`);
  if (await portInUse(port)) {
    throw new OperationError(`port ${port} is already in use on this machine, so an answer there could come from another process; stop it or pass --port`);
  }

  const tmp = await mkdtemp(path.join(os.tmpdir(), "nixway-smoke-"));
  let child: ChildProcess | undefined;
  const onAbort = () => {
    if (child) killTree(child);
  };
  opts.signal?.addEventListener("abort", onAbort);
  try {
    let launch: Launch | string;
    if (opts.archive !== undefined) {
      const why = await chrootUnavailable();
      if (why) {
        notes.push(`cannot run the image chrooted: ${why}; ran the app directory with bun instead, so the image's files, Cmd and Env are not exercised`);
        launch = appLaunch(opts, settings, port, tmp);
      } else {
        const imageRoot = path.join(tmp, "root");
        mkdirSync(imageRoot, { mode: 0o755 });
        progress(`unpacking ${opts.archive}`);
        const t0 = performance.now();
        const image = await unpackImage(opts.archive, imageRoot, { signal: opts.signal });
        if (opts.signal?.aborted) throw abortError();
        notes.push(`unpacked ${image.layerCount} layer${image.layerCount === 1 ? "" : "s"} in ${Math.round(performance.now() - t0)} ms`);
        if (image.skipped.length) notes.push(`not reproduced locally: ${image.skipped.slice(0, 5).join(", ")}${image.skipped.length > 5 ? ", ..." : ""}`);
        const exposed = image.config.exposedPorts.map((p) => Number(p.split("/")[0]));
        // Scaleway ignores EXPOSE, but a difference hints at the same mistake as a port mismatch.
        if (exposed.length && !exposed.includes(service.port)) notes.push(`the image exposes ${image.config.exposedPorts.join(", ")}, while service.yaml says port ${service.port}`);
        await prepareRuntimeDirs(imageRoot, notes);
        launch = chrootLaunch(imageRoot, image.config, settings, port);
      }
    } else {
      launch = appLaunch(opts, settings, port, tmp);
    }

    const base = { port, healthPath, memoryLimitMB: settings.memoryLimit, notes };
    if (typeof launch === "string") {
      return { ...base, ok: false, cause: "entrypoint-crash", detail: launch, firstResponseMs: null, healthStatus: null, peakRssMB: 0, mode: "chroot", listening: [], exit: null, outputTail: [] };
    }
    progress(`starting ${launch.describe} with PORT=${port}`);
    return await watch(launch, { ...opts, port, healthPath, timeoutMs, settleMs, limitKiB, notes, base }, (c) => (child = c));
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    const c = child as ChildProcess | undefined;
    if (c) {
      killTree(c);
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) await within(new Promise((r) => c.once("exit", r)), 5_000);
    }
    removeTree(tmp);
  }
}

interface WatchContext extends SmokeOptions {
  port: number;
  healthPath: string;
  timeoutMs: number;
  settleMs: number;
  limitKiB: number;
  notes: string[];
  base: { port: number; healthPath: string; memoryLimitMB: number; notes: string[] };
}

async function watch(launch: Launch, ctx: WatchContext, started: (c: ChildProcess) => void): Promise<SmokeResult> {
  const [cmd, ...args] = launch.argv;
  const t0 = performance.now();
  // detached: a process group of its own, so the whole tree can be killed at once.
  const child = spawn(cmd, args, { cwd: launch.cwd, env: launch.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  started(child);
  const stderr = new Tail();
  const stdout = new Tail();
  child.stdout!.setEncoding("utf8").on("data", (d: string) => stdout.push(d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => stderr.push(d));

  let exit: { code: number | null; signal: string | null } | null = null;
  let spawnError: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve();
    });
    child.once("error", (err: NodeJS.ErrnoException) => {
      spawnError = err.code === "ENOENT" ? `${cmd}: not found` : err.message;
      resolve();
    });
  });
  // Let stdio drain after exit, so the tail has the crash message.
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));

  let peakRssKiB = 0;
  let peakHwmKiB = 0;
  let overLimit = false;
  const sample = () => {
    if (child.pid === undefined || exit) return;
    const m = memoryOf([child.pid, ...descendantsOf(child.pid)]);
    peakRssKiB = Math.max(peakRssKiB, m.rssKiB);
    peakHwmKiB = Math.max(peakHwmKiB, m.hwmKiB);
    if (Math.max(peakRssKiB, peakHwmKiB) > ctx.limitKiB && !overLimit) {
      // What the platform would do: the instance is killed at its memory limit.
      overLimit = true;
      killTree(child);
    }
  };
  // Sampled densely while the process starts (a crash can come within milliseconds), then every SAMPLE_MS.
  let sampler: NodeJS.Timeout | undefined;
  const tick = () => {
    sample();
    sampler = setTimeout(tick, performance.now() - t0 < 1_000 ? EARLY_SAMPLE_MS : SAMPLE_MS);
  };
  tick();

  let firstResponseMs: number | null = null;
  let healthStatus: number | null = null;
  let healthyAt: number | null = null;
  const deadline = t0 + ctx.timeoutMs;
  try {
    for (;;) {
      if (exit || spawnError || overLimit || ctx.signal?.aborted) break;
      const now = performance.now();
      if (healthyAt !== null && now - healthyAt >= ctx.settleMs) break;
      if (healthyAt === null && now >= deadline) break;
      if (healthyAt === null) {
        const status = await probe(ctx.port, ctx.healthPath, Math.max(100, Math.min(2_000, deadline - now)));
        if (status !== null) {
          firstResponseMs ??= Math.round(performance.now() - t0);
          healthStatus = status;
          if (status >= 200 && status < 300) healthyAt = performance.now();
        }
      }
      await within(exited, healthyAt === null ? PROBE_MS : SAMPLE_MS);
    }
    sample();
    // Where the tree listens, read while it is alive.
    const listening = child.pid !== undefined && !exit ? listeningSocketsOf([child.pid, ...descendantsOf(child.pid)]) : [];
    if (ctx.signal?.aborted) throw abortError();
    if (exit || spawnError) await within(closed, 500);

    const peakRssMB = Math.round((Math.max(peakRssKiB, peakHwmKiB) / 1024) * 10) / 10;
    const errTail = stderr.lines();
    const outputTail = errTail.length ? errTail : stdout.lines();
    const result: SmokeResult = {
      ...ctx.base,
      ok: false,
      cause: null,
      detail: null,
      firstResponseMs,
      healthStatus,
      peakRssMB,
      mode: launch.mode,
      listening: listening.map(showSocket),
      exit,
      outputTail,
    };
    const limit = ctx.base.memoryLimitMB;
    const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`;
    if (overLimit) {
      return { ...result, cause: "memory-limit-exceeded", detail: `resident memory reached ${peakRssMB} MB, over memoryLimit ${limit} MB; the process was killed, as the platform would. Raise memoryLimit or reduce start-up memory` };
    }
    if (spawnError) return { ...result, cause: "entrypoint-crash", detail: `could not start ${cmd}: ${spawnError}` };
    if (exit) {
      const e = exit as { code: number | null; signal: string | null };
      const how = e.signal ? `was killed by ${e.signal}` : `exited with status ${e.code}`;
      const when = healthyAt !== null ? "after answering" : firstResponseMs !== null ? "after a first answer" : "before answering";
      // unshare's own message when exec fails (127: not found, 126: not executable).
      const notExecuted = (e.code === 127 || e.code === 126) && errTail.some((l) => l.startsWith("unshare: failed to execute"));
      const why = notExecuted && launch.explainNotExecuted ? `: ${launch.explainNotExecuted()}` : "";
      return { ...result, cause: "entrypoint-crash", detail: `the process ${how} ${when}${why}${outputTail.length ? "; its last output is below" : " and printed nothing"}` };
    }
    if (healthyAt === null && healthStatus !== null) {
      return { ...result, cause: "health-check-failed", detail: `GET ${ctx.healthPath} on PORT ${ctx.port} answered ${healthStatus}, not 2xx, until the ${secs(ctx.timeoutMs)} deadline` };
    }
    const onPort = listening.filter((s) => s.port === ctx.port);
    if (healthyAt === null && onPort.length) {
      return { ...result, cause: "health-check-failed", detail: `the app listens on ${onPort.map(showSocket).join(", ")} but GET ${ctx.healthPath} got no HTTP answer within ${secs(ctx.timeoutMs)} (it hangs, or does not speak HTTP)` };
    }
    if (healthyAt === null) {
      const others = listening.filter((s) => s.port !== ctx.port);
      const detail = others.length
        ? `nothing answered on PORT ${ctx.port} within ${secs(ctx.timeoutMs)}; the app listens on ${others.map(showSocket).join(", ")} instead. Make it listen on process.env.PORT`
        : `nothing answered on PORT ${ctx.port} within ${secs(ctx.timeoutMs)} and the process listens on no TCP port: it never called listen, or is still starting (raise --timeout)`;
      return { ...result, cause: "port-mismatch", detail };
    }
    if (onPort.length && onPort.every((s) => isLoopback(s.address))) {
      return { ...result, cause: "port-mismatch", detail: `the app listens on ${onPort.map(showSocket).join(", ")} only; Scaleway routes to the container's address, so bind 0.0.0.0 (Bun.serve({ hostname: "0.0.0.0" }))` };
    }
    return { ...result, ok: true };
  } finally {
    clearTimeout(sampler);
  }
}
