// The only code that writes generated files to disk (and the matching read-only check).
//
// - Atomic: each file is written to a temp file in its own directory, fsynced, then renamed over
//   the target, so a reader (or a generate killed half-way) sees the old file or the new one,
//   never a partial one. Several files are written at once (the disk waits of their fsyncs
//   overlap); each directory is fsynced once, after all its renames and before the manifest.
// - A file whose content is already right is not written at all (no temp file, no fsync).
// - A manifest (.nixway/manifest.json: path, sha256, mode of every file generate wrote) tells
//   which files are ours: a file no emitter produces any more (a removed service) is deleted, and a
//   file whose content matches neither its manifest hash nor the new output was edited by hand:
//   it is reported and left alone unless `force`.
// - A journal (.nixway/manifest.pending.json) holds the hashes about to be written until the new
//   manifest is in place, so files written by an interrupted run are still recognised as ours.
// - createOnly files are written only when absent and are never tracked, checked or deleted.
import { createHash } from "node:crypto";
import {
  close,
  closeSync,
  fchmod,
  fchmodSync,
  fsync,
  fsyncSync,
  link,
  lstatSync,
  mkdir,
  mkdirSync,
  open,
  openSync,
  readdirSync,
  readFileSync,
  rename,
  renameSync,
  rmdirSync,
  statSync,
  unlink,
  unlinkSync,
  write,
  writeSync,
} from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { createTwoFilesPatch } from "diff";
import { REGENERATE_COMMAND, type GeneratedFile } from "./emit/types.ts";

export const MANIFEST_PATH = ".nixway/manifest.json";
export const PENDING_PATH = ".nixway/manifest.pending.json";

/**
 * Test hook: milliseconds to pause before and after each rename, so tests can kill a generate
 * in the middle of its writes. Unset (the normal case) means no pause.
 */
export const PAUSE_ENV = "NIXWAY_TEST_WRITE_PAUSE_MS";

type Mode = 0o644 | 0o755;

export interface ManifestEntry {
  path: string;
  sha256: string;
  mode: "0644" | "0755";
}

export interface Conflict {
  path: string;
  /**
   * edited: a generated file changed by hand; stale-edited: the same, for a file no emitter
   * produces any more; foreign: a file nixway never wrote sits where a generated file goes.
   */
  kind: "edited" | "stale-edited" | "foreign";
}

export interface WriteResult {
  /** Created or replaced. */
  written: string[];
  unchanged: string[];
  /** Same content, only the executable bit corrected. */
  modeFixed: string[];
  /** Generated before, produced by no emitter now. */
  deleted: string[];
  /** createOnly files created by this run. */
  created: string[];
  /** createOnly files that already existed and were left as they are. */
  kept: string[];
  /** Left alone because they were edited by hand (or not written by nixway); empty with force. */
  conflicts: Conflict[];
  /** Whether .nixway/manifest.json changed. */
  manifestWritten: boolean;
}

export interface Drift {
  path: string;
  kind: "missing" | "content" | "mode" | "stale";
  /** For mode drift: the modes found and expected, as "0644"/"0755". */
  found?: string;
  expected?: string;
}

export interface CheckResult {
  drift: Drift[];
  /** Unified diff of every content difference, from what is on disk (a/) to what generate writes (b/). */
  diff: string;
}

export function sha256(content: string | Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function modeString(mode: Mode): "0644" | "0755" {
  return mode === 0o755 ? "0755" : "0644";
}

/** The executable bit is all git (and therefore a checkout) keeps of a file's mode. */
function normalizeMode(statMode: number): Mode {
  return statMode & 0o111 ? 0o755 : 0o644;
}

/** A safe repository-relative path: forward slashes, no "..", not absolute, not empty. */
export function isSafeRelativePath(p: string): boolean {
  if (p === "" || p.startsWith("/") || p.includes("\\") || p.includes("\0")) return false;
  return p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

function assertGeneratedPaths(files: readonly GeneratedFile[]): void {
  const seen = new Set<string>();
  for (const f of files) {
    if (!isSafeRelativePath(f.path)) throw new Error(`generated file path '${f.path}' is not a plain relative path`);
    if (f.path === MANIFEST_PATH || f.path === PENDING_PATH) throw new Error(`generated file path '${f.path}' is reserved`);
    if (seen.has(f.path)) throw new Error(`two generated files share the path ${f.path}`);
    if (f.mode !== 0o644 && f.mode !== 0o755) throw new Error(`generated file ${f.path} has mode ${(f.mode as number).toString(8)}; use 0644 or 0755`);
    if (!f.content.endsWith("\n") || f.content.includes("\r\n")) throw new Error(`generated file ${f.path} must use LF line endings and end with a newline`);
    seen.add(f.path);
  }
}

/** The manifest text for these generated files (createOnly ones excluded). Deterministic. */
export function manifestContent(entries: readonly ManifestEntry[]): string {
  const files = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return (
    JSON.stringify(
      {
        comment: `Generated by nixway: the files it generated, so it can delete stale ones and spot hand edits. Do not edit. Regenerate: ${REGENERATE_COMMAND}`,
        files: files.map((f) => ({ path: f.path, sha256: f.sha256, mode: f.mode })),
      },
      null,
      2,
    ) + "\n"
  );
}

function entryFor(file: GeneratedFile): ManifestEntry {
  return { path: file.path, sha256: sha256(file.content), mode: modeString(file.mode) };
}

function readText(abs: string): string | undefined {
  try {
    return readFileSync(abs, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw err;
  }
}

interface OnDisk {
  content: Buffer;
  mode: Mode;
}

function readOnDisk(abs: string): OnDisk | undefined {
  let st;
  try {
    st = statSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
  if (!st.isFile()) return { content: Buffer.from(`<not a regular file>`), mode: 0o644 };
  return { content: readFileSync(abs), mode: normalizeMode(st.mode) };
}

/** Manifest entries by path. A missing or unreadable manifest is empty: every existing file is then treated as possibly hand-written. */
export function readManifest(root: string): Map<string, ManifestEntry> {
  const out = new Map<string, ManifestEntry>();
  const text = readText(path.join(root, MANIFEST_PATH));
  if (text === undefined) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return out;
  }
  const files = (parsed as { files?: unknown }).files;
  if (!Array.isArray(files)) return out;
  for (const f of files as Partial<ManifestEntry>[]) {
    // Never trust a path from disk blindly: an entry outside the repository is ignored, not deleted.
    if (typeof f?.path !== "string" || typeof f.sha256 !== "string" || !isSafeRelativePath(f.path)) continue;
    out.set(f.path, { path: f.path, sha256: f.sha256, mode: f.mode === "0755" ? "0755" : "0644" });
  }
  return out;
}

/** Hashes written by an interrupted run, by path. */
function readPending(root: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const text = readText(path.join(root, PENDING_PATH));
  if (text === undefined) return out;
  try {
    const files = (JSON.parse(text) as { files?: Record<string, unknown> }).files ?? {};
    for (const [p, hashes] of Object.entries(files)) {
      if (!isSafeRelativePath(p) || !Array.isArray(hashes)) continue;
      out.set(p, new Set(hashes.filter((h): h is string => typeof h === "string")));
    }
  } catch {
    /* a torn journal cannot exist (it is written atomically); an edited one is ignored */
  }
  return out;
}

function pause(): void {
  const ms = Number(process.env[PAUSE_ENV] ?? "");
  // Blocks the whole process, not just this file's write: renames stay at least `ms` apart even
  // with several writes in flight, so a kill lands between two of them.
  if (Number.isFinite(ms) && ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

let tempCounter = 0;
const TEMP_PATTERN = /^\..+\.nixway-tmp-\d+-\d+$/;

/** Whether a file name is one of the temp files writes go through (left over by a killed run). */
export function isTempFileName(name: string): boolean {
  return TEMP_PATTERN.test(name);
}

function tempPathFor(abs: string): string {
  tempCounter += 1;
  return path.join(path.dirname(abs), `.${path.basename(abs)}.nixway-tmp-${process.pid}-${tempCounter}`);
}

function fsyncDir(dir: string): void {
  // Makes the rename itself durable. Some platforms refuse fsync on a directory: that only
  // weakens durability after a power loss, not atomicity, so it is not an error.
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* see above */
  }
}

async function fsyncDirAsync(dir: string): Promise<void> {
  // As fsyncDir.
  let fd: number;
  try {
    fd = await openAsync(dir, "r");
  } catch {
    return;
  }
  try {
    await fsyncAsync(fd);
  } catch {
    /* see fsyncDir */
  } finally {
    await closeAsync(fd).catch(() => undefined);
  }
}

/**
 * The directories a new directory's entry and its own entries live in: from `created` (the first
 * directory mkdir created) down to `dir`, and the parent of `created`.
 */
function dirsChangedByMkdir(created: string, dir: string): string[] {
  const out = [path.dirname(created)];
  for (let d = dir; d.length >= created.length; d = path.dirname(d)) out.push(d);
  return out;
}

/** Writes content to a new temp file next to `abs`, fsynced, with exactly `mode`. */
function writeTemp(abs: string, content: string, mode: Mode): string {
  const created = mkdirSync(path.dirname(abs), { recursive: true });
  if (created !== undefined) for (const d of dirsChangedByMkdir(created, path.dirname(abs))) fsyncDir(d);
  const tmp = tempPathFor(abs);
  const fd = openSync(tmp, "wx", mode);
  try {
    const buf = Buffer.from(content, "utf8");
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fchmodSync(fd, mode); // the umask must not decide the mode
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  return tmp;
}

/**
 * Replaces `abs` with `content` atomically: temp file in the same directory, fsynced, renamed
 * over `abs`, and the rename made durable by an fsync of the directory.
 */
export function writeFileAtomic(abs: string, content: string, mode: Mode): void {
  const tmp = writeTemp(abs, content, mode);
  pause();
  renameSync(tmp, abs);
  fsyncDir(path.dirname(abs));
  pause();
}

const openAsync = promisify(open);
const closeAsync = promisify(close);
const fchmodAsync = promisify(fchmod);
const fsyncAsync = promisify(fsync);
const renameAsync = promisify(rename);
const linkAsync = promisify(link);
const unlinkAsync = promisify(unlink);
const mkdirAsync = promisify(mkdir);

function writeAsync(fd: number, buf: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buf, offset, buf.length - offset, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * How many files are written at once. Each write waits on the disk for its fsync; with several in
 * flight those waits overlap (and file creation, CPU work in the kernel, runs on both cores).
 * Node's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise) bounds the real
 * parallelism; 16 keeps it busy without holding thousands of file descriptors open.
 */
const WRITE_CONCURRENCY = 16;

/**
 * Runs `task` on every item, at most `limit` at a time. After a failure no new task starts; the
 * running ones finish (each cleans up its own temp file), then the first error is thrown.
 */
async function forEachConcurrently<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/** As writeTemp, without blocking: the directory must exist. */
async function writeTempAsync(abs: string, content: string, mode: Mode): Promise<string> {
  const tmp = tempPathFor(abs);
  const fd = await openAsync(tmp, "wx", mode);
  try {
    const buf = Buffer.from(content, "utf8");
    let off = 0;
    while (off < buf.length) off += await writeAsync(fd, buf, off);
    await fchmodAsync(fd, mode); // the umask must not decide the mode
    await fsyncAsync(fd);
  } catch (err) {
    await closeAsync(fd).catch(() => undefined);
    await unlinkAsync(tmp).catch(() => undefined);
    throw err;
  }
  try {
    await closeAsync(fd);
  } catch (err) {
    await unlinkAsync(tmp).catch(() => undefined);
    throw err;
  }
  return tmp;
}

/** As writeFileAtomic, without blocking; the caller fsyncs the directory (once for all its files). */
async function replaceFileAsync(abs: string, content: string, mode: Mode): Promise<void> {
  const tmp = await writeTempAsync(abs, content, mode);
  pause();
  try {
    await renameAsync(tmp, abs);
  } catch (err) {
    await unlinkAsync(tmp).catch(() => undefined);
    throw err;
  }
  pause();
}

/** Creates `abs` with `content` only if nothing is there; returns false when something was. */
async function createFileAsync(abs: string, content: string, mode: Mode): Promise<boolean> {
  const tmp = await writeTempAsync(abs, content, mode);
  try {
    // link() fails when the target exists: create-if-absent without a window for a race.
    await linkAsync(tmp, abs);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlinkAsync(tmp);
  }
}

function isDirectory(abs: string): boolean {
  try {
    return statSync(abs).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Creates directories on demand, each once, parents before children. `missing` is every
 * directory that does not exist yet (found up front, so each is stat'ed once, not once per file).
 */
class DirectoryMaker {
  private readonly made = new Map<string, Promise<void>>();
  constructor(private readonly missing: ReadonlySet<string>) {}

  /** Resolves once `dir` exists. */
  ready(dir: string): Promise<void> {
    if (!this.missing.has(dir)) return Promise.resolve();
    let p = this.made.get(dir);
    if (p === undefined) {
      p = this.ready(path.dirname(dir)).then(() =>
        mkdirAsync(dir).catch((err: NodeJS.ErrnoException) => {
          // Made meanwhile by someone else: fine if it is a directory.
          if (err.code !== "EEXIST" || !isDirectory(dir)) throw err;
        }),
      );
      this.made.set(dir, p);
    }
    return p;
  }
}

/** The directories among `dirs` and their ancestors (up to `root`) that do not exist. */
function missingDirs(root: string, dirs: Iterable<string>): Set<string> {
  const exists = new Map<string, boolean>([[root, true]]);
  const check = (dir: string): boolean => {
    let known = exists.get(dir);
    if (known === undefined) {
      // An ancestor that is missing has no descendants: no need to stat them.
      known = dir.length > root.length && check(path.dirname(dir)) ? isDirectory(dir) : false;
      exists.set(dir, known);
    }
    return known;
  };
  const out = new Set<string>();
  for (const dir of dirs) {
    for (let d = dir; d.length > root.length && !check(d); d = path.dirname(d)) out.add(d);
  }
  return out;
}

/** Whether something (file, directory, or a link to one) is at `abs`. */
function existsAt(abs: string): boolean {
  try {
    statSync(abs);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw err;
  }
}

/** fsync of one existing file: makes its content durable. */
async function fsyncFileAsync(abs: string): Promise<void> {
  const fd = await openAsync(abs, "r");
  try {
    await fsyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
}

/** Removes temp files an interrupted run left in these directories (only nixway's own pattern). */
function removeStaleTemps(dirs: Iterable<string>): void {
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!TEMP_PATTERN.test(name)) continue;
      try {
        if (lstatSync(path.join(dir, name)).isFile()) unlinkSync(path.join(dir, name));
      } catch {
        /* already gone */
      }
    }
  }
}

/**
 * Removes the now-empty directories from `rel`'s directory upwards, keeping top-level ones
 * (services/ marks the repository root for findRoot even when it is empty). Returns the
 * directory (relative) whose entries changed last: the parent of the last one removed, or the
 * file's own directory when none was.
 */
function removeEmptyParents(root: string, rel: string): string {
  let dir = path.posix.dirname(rel);
  for (; dir.includes("/"); dir = path.posix.dirname(dir)) {
    try {
      rmdirSync(path.join(root, dir));
    } catch {
      return dir; // not empty (or already gone): stop
    }
  }
  return dir;
}

function byPath<T extends { path: string }>(a: T, b: T): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * Brings the files under `root` to `files`: writes what changed, deletes what is no longer
 * generated, creates missing createOnly files, and records the result in the manifest.
 * Hand-edited files are left alone and returned as conflicts unless `force`.
 *
 * Order, which is what makes an interruption (even SIGKILL, or a power loss) safe: the journal
 * (durable) names every hash about to be written; then each file goes to a fsynced temp file
 * renamed over its target, several at once; then every directory that got a rename is fsynced;
 * only then is the manifest written, so it never names a file whose rename could still be lost.
 */
export async function writeGenerated(root: string, files: readonly GeneratedFile[], opts: { force?: boolean } = {}): Promise<WriteResult> {
  assertGeneratedPaths(files);
  const force = opts.force === true;
  const tracked = files.filter((f) => !f.createOnly);
  const createOnly = files.filter((f) => f.createOnly);
  const oldManifest = readManifest(root);
  const pending = readPending(root);
  const known = (p: string): Set<string> => {
    const s = new Set(pending.get(p) ?? []);
    const m = oldManifest.get(p);
    if (m) s.add(m.sha256);
    return s;
  };

  const dirs = new Set<string>([path.join(root, path.dirname(MANIFEST_PATH))]);
  for (const f of files) dirs.add(path.join(root, path.dirname(f.path)));
  for (const p of [...oldManifest.keys(), ...pending.keys()]) dirs.add(path.join(root, path.dirname(p)));
  removeStaleTemps(dirs);

  const result: WriteResult = { written: [], unchanged: [], modeFixed: [], deleted: [], created: [], kept: [], conflicts: [], manifestWritten: false };
  const toWrite: GeneratedFile[] = [];
  const toChmod: GeneratedFile[] = [];
  const toDelete: string[] = [];
  const toCreate: GeneratedFile[] = [];
  const toConfirm: GeneratedFile[] = [];
  const newEntries = new Map<string, ManifestEntry>();
  // Directories to fsync before the manifest is written: one fsync per directory for all the
  // renames in it, not one per file.
  const dirsToSync = new Set<string>();

  for (const f of tracked) {
    const abs = path.join(root, f.path);
    const disk = readOnDisk(abs);
    const want = entryFor(f);
    if (disk === undefined) {
      toWrite.push(f);
    } else if (disk.content.equals(Buffer.from(f.content, "utf8"))) {
      if (disk.mode === f.mode) result.unchanged.push(f.path);
      else toChmod.push(f);
      // Already right, but not recorded as durable (an interrupted run renamed it without the
      // directory fsync, or someone else put it there): made durable below before it is named.
      if (oldManifest.get(f.path)?.sha256 !== want.sha256) toConfirm.push(f);
    } else if (force || known(f.path).has(sha256(disk.content))) {
      toWrite.push(f);
    } else {
      result.conflicts.push({ path: f.path, kind: oldManifest.has(f.path) ? "edited" : "foreign" });
      const old = oldManifest.get(f.path);
      if (old) newEntries.set(f.path, old); // still ours: keep reporting it until resolved
      continue;
    }
    newEntries.set(f.path, want);
  }

  const wanted = new Set(tracked.map((f) => f.path));
  for (const p of [...new Set([...oldManifest.keys(), ...pending.keys()])].sort()) {
    if (wanted.has(p)) continue;
    const disk = readOnDisk(path.join(root, p));
    if (disk === undefined) continue;
    if (force || known(p).has(sha256(disk.content))) {
      toDelete.push(p);
    } else {
      result.conflicts.push({ path: p, kind: "stale-edited" });
      const old = oldManifest.get(p);
      if (old) newEntries.set(p, old);
    }
  }

  for (const f of createOnly) {
    if (existsAt(path.join(root, f.path))) result.kept.push(f.path);
    else toCreate.push(f);
  }

  if (toWrite.length) {
    // Journal first: whatever this run manages to write before it is interrupted stays recognisable.
    const journal: Record<string, string[]> = {};
    for (const [p, hashes] of [...pending.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) journal[p] = [...hashes].sort();
    for (const f of toWrite) journal[f.path] = [...new Set([...(journal[f.path] ?? []), sha256(f.content)])].sort();
    writeFileAtomic(path.join(root, PENDING_PATH), JSON.stringify({ comment: "nixway generate in progress; removed when it completes", files: journal }, null, 2) + "\n", 0o644);
  }

  // Writes, creations and fsyncs of files already right, several at once (their fsyncs overlap),
  // each missing directory made once.
  type Job = { file: GeneratedFile; kind: "write" | "create" | "confirm" };
  const jobs: Job[] = [
    ...toWrite.map((file): Job => ({ file, kind: "write" })),
    ...toCreate.map((file): Job => ({ file, kind: "create" })),
    ...toConfirm.map((file): Job => ({ file, kind: "confirm" })),
  ];
  const missing = missingDirs(root, jobs.map((j) => path.dirname(path.join(root, j.file.path))));
  // A new directory's entry lives in its parent: that parent must be fsynced too.
  for (const d of missing) dirsToSync.add(path.dirname(d));
  const dirMaker = new DirectoryMaker(missing);
  await forEachConcurrently(jobs, WRITE_CONCURRENCY, async ({ file, kind }) => {
    const abs = path.join(root, file.path);
    if (kind === "confirm") {
      await fsyncFileAsync(abs);
    } else {
      await dirMaker.ready(path.dirname(abs));
      if (kind === "write") {
        await replaceFileAsync(abs, file.content, file.mode);
        result.written.push(file.path);
      } else if (await createFileAsync(abs, file.content, file.mode)) {
        result.created.push(file.path);
      } else {
        result.kept.push(file.path);
        return;
      }
    }
    dirsToSync.add(path.dirname(abs));
  });
  for (const f of toChmod) {
    // chmod of an existing file is atomic by itself; the fsync makes it durable.
    const fd = openSync(path.join(root, f.path), "r");
    try {
      fchmodSync(fd, f.mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    result.modeFixed.push(f.path);
  }
  for (const p of toDelete) {
    unlinkSync(path.join(root, p));
    dirsToSync.add(path.join(root, removeEmptyParents(root, p)));
    result.deleted.push(p);
  }
  await forEachConcurrently([...dirsToSync], WRITE_CONCURRENCY, fsyncDirAsync);

  const manifestAbs = path.join(root, MANIFEST_PATH);
  const manifest = manifestContent([...newEntries.values()]);
  if (readText(manifestAbs) !== manifest) {
    writeFileAtomic(manifestAbs, manifest, 0o644);
    result.manifestWritten = true;
  }
  try {
    unlinkSync(path.join(root, PENDING_PATH));
    fsyncDir(path.dirname(manifestAbs));
  } catch {
    /* no journal this time */
  }

  for (const list of [result.written, result.unchanged, result.modeFixed, result.deleted, result.created, result.kept]) list.sort();
  result.conflicts.sort(byPath);
  return result;
}

function patch(rel: string, before: string | undefined, after: string | undefined): string {
  const text = createTwoFilesPatch(
    before === undefined ? "/dev/null" : `a/${rel}`,
    after === undefined ? "/dev/null" : `b/${rel}`,
    before ?? "",
    after ?? "",
  );
  // jsdiff starts with a line of '=': drop it so the output reads like `git diff`.
  return text.replace(/^=+\n/, "");
}

/**
 * Compares the disk with `files` without writing anything: missing, different (content or
 * executable bit) and stale generated files, and the manifest itself. createOnly files are not
 * checked.
 */
export function checkGenerated(root: string, files: readonly GeneratedFile[]): CheckResult {
  assertGeneratedPaths(files);
  const tracked = files.filter((f) => !f.createOnly);
  const drift: Drift[] = [];
  const patches: { path: string; text: string }[] = [];
  const compare = (rel: string, want: string, mode: Mode): void => {
    const disk = readOnDisk(path.join(root, rel));
    if (disk === undefined) {
      drift.push({ path: rel, kind: "missing" });
      patches.push({ path: rel, text: patch(rel, undefined, want) });
      return;
    }
    const found = disk.content.toString("utf8");
    if (found !== want) {
      drift.push({ path: rel, kind: "content" });
      patches.push({ path: rel, text: patch(rel, found, want) });
    }
    if (disk.mode !== mode) drift.push({ path: rel, kind: "mode", found: modeString(disk.mode), expected: modeString(mode) });
  };
  for (const f of tracked) compare(f.path, f.content, f.mode);

  const wanted = new Set(tracked.map((f) => f.path));
  for (const p of [...readManifest(root).keys()].sort()) {
    if (wanted.has(p)) continue;
    const disk = readOnDisk(path.join(root, p));
    if (disk === undefined) continue;
    drift.push({ path: p, kind: "stale" });
    patches.push({ path: p, text: patch(p, disk.content.toString("utf8"), undefined) });
  }
  compare(MANIFEST_PATH, manifestContent(tracked.map(entryFor)), 0o644);

  drift.sort((a, b) => byPath(a, b) || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
  patches.sort(byPath);
  return { drift, diff: patches.map((p) => p.text).join("") };
}
