// Unpacks a docker-archive image (what `nix build` / streamLayeredImage produce and skopeo
// pushes) into a directory the way a container runtime does: layers applied in order, with
// whiteouts (`.wh.NAME` deletes NAME from lower layers, `.wh..wh..opq` hides a directory's
// lower contents). Used by `nixway smoke --archive` to run the image's Cmd in a chroot.
//
// The archive itself (manifest.json, the config, a gzip-compressed archive or an image stream
// script) is read by archive.ts; the layers' contents are read here, by a small tar reader
// rather than the system tar, because a layer is untrusted input: every path is resolved
// inside the root (symlinks included, as a chroot would), so a symlink planted by one layer
// cannot make a later layer write outside the root.
import { createReadStream, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, chmodSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { createGunzip } from "node:zlib";
import { InputError } from "../diagnostics.ts";
import { openArchive, readDockerArchive as readArchive, type ArchiveLayer, type DockerArchive, type ImageConfig } from "./archive.ts";

/** The part of the image config a runtime needs to start the container. */
export interface ImageRunConfig {
  entrypoint: string[];
  cmd: string[];
  /** "NAME=value" as in the image config, in order. */
  env: string[];
  /** "", "uid", "uid:gid", "name" or "name:group", as in the image config. */
  user: string;
  workingDir: string;
  /** e.g. ["8080/tcp"], sorted. */
  exposedPorts: string[];
}

export interface UnpackedImage {
  root: string;
  config: ImageRunConfig;
  layerCount: number;
  /** Entries a local unpack does not reproduce (device nodes, fifos), by path. */
  skipped: string[];
}

interface TarHeader {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
}

/* ---------------------------------------------------------------- tar reading */

/** Pulls exact byte counts out of a chunked stream. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const r = await this.source.next();
      if (r.done) this.done = true;
      else {
        const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
        this.chunks.push(b);
        this.buffered += b.length;
      }
    }
    return this.buffered >= n;
  }

  /** Exactly n bytes, or null at a clean end of stream. Throws on a truncated stream. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) {
      if (this.buffered === 0) return null;
      throw new Error(`truncated: wanted ${n} more bytes, the stream ended after ${this.buffered}`);
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  /** Hands n bytes to `sink` piecewise (bounded memory for large files). */
  async pipe(n: number, sink: (b: Buffer) => Promise<void> | void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!this.buffered && !(await this.fill(1))) throw new Error(`truncated: a member's data ends ${left} bytes early`);
      const head = this.chunks[0];
      const take = Math.min(left, head.length);
      await sink(head.subarray(0, take));
      if (take === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(take);
      this.buffered -= take;
      left -= take;
    }
  }
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString("utf8");
}

function tarNumber(b: Buffer): number {
  // GNU base-256 for values that do not fit in octal.
  if (b[0] & 0x80) {
    let n = b[0] & 0x7f;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i];
    return n;
  }
  const text = cString(b).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function parseHeader(block: Buffer): TarHeader | "end" {
  if (block.every((x) => x === 0)) return "end";
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  const recorded = tarNumber(block.subarray(148, 156));
  if (recorded !== sum) throw new Error("not a tar archive (header checksum mismatch)");
  let name = cString(block.subarray(0, 100));
  const magic = block.subarray(257, 263).toString("latin1");
  // POSIX ustar keeps a path prefix; the GNU format uses that area for other fields.
  if (magic === "ustar\0") {
    const prefix = cString(block.subarray(345, 500));
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name,
    type: String.fromCharCode(block[156] || 48),
    mode: tarNumber(block.subarray(100, 108)),
    uid: tarNumber(block.subarray(108, 116)),
    gid: tarNumber(block.subarray(116, 124)),
    size: tarNumber(block.subarray(124, 136)),
    linkname: cString(block.subarray(157, 257)),
  };
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(body.subarray(i, sp).toString("latin1"));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = body.subarray(sp + 1, i + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

const padding = (size: number) => (512 - (size % 512)) % 512;

/**
 * Reads a tar stream member by member. `onEntry` must consume exactly `header.size` bytes
 * through `body` (or not call it: the data is then skipped).
 */
export async function readTar(
  source: AsyncIterable<Buffer>,
  onEntry: (header: TarHeader, body: (sink: (b: Buffer) => Promise<void> | void) => Promise<void>) => Promise<void>,
): Promise<void> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  let globalPax: Record<string, string> = {};
  for (;;) {
    const block = await reader.read(512);
    if (!block) return; // some writers omit the end-of-archive blocks
    const h = parseHeader(block);
    if (h === "end") return;
    if (h.type === "L" || h.type === "K" || h.type === "x" || h.type === "g") {
      const body = (await reader.read(h.size + padding(h.size))) ?? Buffer.alloc(0);
      const data = body.subarray(0, h.size);
      if (h.type === "L") longName = cString(data);
      else if (h.type === "K") longLink = cString(data);
      else if (h.type === "x") pax = parsePax(data);
      else globalPax = { ...globalPax, ...parsePax(data) };
      continue;
    }
    const ext = { ...globalPax, ...pax };
    const header: TarHeader = {
      ...h,
      name: ext.path ?? longName ?? h.name,
      linkname: ext.linkpath ?? longLink ?? h.linkname,
      size: ext.size !== undefined ? Number(ext.size) : h.size,
      uid: ext.uid !== undefined ? Number(ext.uid) : h.uid,
      gid: ext.gid !== undefined ? Number(ext.gid) : h.gid,
    };
    longName = longLink = undefined;
    pax = {};
    // Hard links and directories carry no data even if a size is recorded.
    const dataSize = header.type === "1" || header.type === "2" || header.type === "5" ? 0 : header.size;
    let consumed = false;
    await onEntry(header, async (sink) => {
      consumed = true;
      await reader.pipe(dataSize, sink);
    });
    if (!consumed) await reader.pipe(dataSize, () => {});
    await reader.pipe(padding(dataSize), () => {});
  }
}

/* ---------------------------------------------------------------- the archive (helper D's reader) */

/** The run-relevant part of an image config (Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts). */
export function runConfigOf(config: ImageConfig): ImageRunConfig {
  const c = config.config ?? {};
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  return {
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env),
    user: typeof c.User === "string" ? c.User : "",
    workingDir: typeof c.WorkingDir === "string" ? c.WorkingDir : "",
    exposedPorts: Object.keys(c.ExposedPorts && typeof c.ExposedPorts === "object" ? c.ExposedPorts : {}).sort(),
  };
}

/** A layer's bytes as a stream, read in place from the archive and gunzipped when stored gzip-compressed. */
export async function layerStream(archive: DockerArchive, layer: ArchiveLayer): Promise<AsyncIterable<Buffer>> {
  if (layer.size === 0) return (async function* () {})();
  const fh = await open(archive.file, "r");
  const magic = Buffer.alloc(4);
  try {
    await fh.read(magic, 0, Math.min(4, layer.size), layer.offset);
  } finally {
    await fh.close();
  }
  if (magic.readUInt32LE(0) === 0xfd2fb528) throw new Error(`layer ${layer.path} is zstd-compressed, which this unpacker does not read`);
  const raw = createReadStream(archive.file, { start: layer.offset, end: layer.offset + layer.size - 1, highWaterMark: 1 << 20 });
  return magic[0] === 0x1f && magic[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
}

/**
 * An uncompressed docker-archive's layers by name and its run config (kept for callers that
 * walk layers by name, like diagnose; new code can use archive.ts's reader with layerStream).
 */
export async function readDockerArchive(file: string): Promise<{ index: { stream(layer: string): Promise<AsyncIterable<Buffer>> }; layers: string[]; config: ImageRunConfig }> {
  const archive = await readArchive(file);
  const byPath = new Map(archive.layers.map((l) => [l.path, l]));
  return {
    index: {
      stream(layer: string) {
        const l = byPath.get(layer);
        if (!l) throw new Error(`${file}: no layer ${layer}`);
        return layerStream(archive, l);
      },
    },
    layers: archive.layers.map((l) => l.path),
    config: runConfigOf(archive.config),
  };
}

/* ---------------------------------------------------------------- applying layers */

/** "./a/../b//c" -> ["b", "c"]: the path as seen from the image root ("..' stops at the root). */
export function imagePathParts(p: string): string[] {
  const out: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return out;
}

/**
 * The host path of `parts` inside `root`, resolving symlinks the way they would resolve with
 * `root` as "/" (absolute targets restart at root, ".." stops at root). The last component is
 * followed only when `followLast`. Missing components are kept as they are.
 */
export function resolveInRoot(root: string, parts: readonly string[], followLast: boolean): string {
  let resolved: string[] = [];
  const queue = [...parts];
  let links = 0;
  while (queue.length) {
    const c = queue.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      resolved.pop();
      continue;
    }
    if (queue.length === 0 && !followLast) {
      resolved.push(c);
      break;
    }
    const candidate = path.join(root, ...resolved, c);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      /* missing: nothing to follow */
    }
    if (!isLink) {
      resolved.push(c);
      continue;
    }
    if (++links > 40) throw new Error(`too many levels of symbolic links at /${[...resolved, c].join("/")}`);
    const target = readlinkSync(candidate);
    if (target.startsWith("/")) resolved = [];
    queue.unshift(...target.split("/"));
  }
  return path.join(root, ...resolved);
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

interface LayerState {
  /** Host paths written by the layer being applied (an opaque whiteout keeps them). */
  unpacked: Set<string>;
  /** Final directory modes, applied once every layer is in (so a 0555 directory stays writable meanwhile). */
  dirModes: Map<string, number>;
  skipped: string[];
}

/** Removes everything under `dir` except the paths this layer wrote (Docker's reading of an opaque whiteout). */
function removeLowerContents(dir: string, keep: Set<string>): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const p = path.join(dir, name);
    if (!keep.has(p)) rmSync(p, { recursive: true, force: true });
    else if (lstatSync(p).isDirectory()) removeLowerContents(p, keep);
  }
}

function ensureDir(p: string): void {
  mkdirSync(p, { recursive: true, mode: 0o755 });
}

async function applyEntry(root: string, h: TarHeader, body: (sink: (b: Buffer) => Promise<void> | void) => Promise<void>, st: LayerState): Promise<void> {
  const parts = imagePathParts(h.name);
  if (parts.length === 0) return; // the root directory itself
  const base = parts[parts.length - 1];
  const parent = resolveInRoot(root, parts.slice(0, -1), true);

  if (base.startsWith(".wh.")) {
    if (base === ".wh..wh..opq") removeLowerContents(parent, st.unpacked);
    else rmSync(path.join(parent, base.slice(4)), { recursive: true, force: true });
    return;
  }
  if (h.type === "3" || h.type === "4" || h.type === "6") {
    st.skipped.push("/" + parts.join("/"));
    return;
  }
  ensureDir(parent);
  const dest = path.join(parent, base);
  let existing: import("node:fs").Stats | undefined;
  try {
    existing = lstatSync(dest);
  } catch {
    /* absent */
  }
  // A directory over a directory merges; anything else replaces what the lower layers had.
  if (existing && !(h.type === "5" && existing.isDirectory())) rmSync(dest, { recursive: true, force: true });

  // setuid/setgid bits are dropped: a local smoke run has no use for them.
  const mode = h.mode & 0o1777;
  switch (h.type) {
    case "5":
      if (!existing?.isDirectory()) mkdirSync(dest, { mode: 0o755 });
      st.dirModes.set(dest, mode);
      break;
    case "2":
      symlinkSync(h.linkname, dest);
      break;
    case "1": {
      const target = resolveInRoot(root, imagePathParts(h.linkname), false);
      linkSync(target, dest);
      break;
    }
    case "0":
    case "7": {
      const fh = await open(dest, "wx", 0o600);
      try {
        await body(async (b) => {
          let off = 0;
          while (off < b.length) off += (await fh.write(b, off)).bytesWritten;
        });
      } finally {
        await fh.close();
      }
      chmodSync(dest, mode);
      break;
    }
    default:
      st.skipped.push(`/${parts.join("/")} (tar type '${h.type}')`);
      return;
  }
  if (isRoot) lchownSync(dest, h.uid, h.gid);
  // The directories leading to it count as written too, or an opaque whiteout would drop them.
  for (let p = dest; p.length > root.length && !st.unpacked.has(p); p = path.dirname(p)) st.unpacked.add(p);
}

export interface UnpackOptions {
  /** Stops between entries (the caller removes the root). */
  signal?: AbortSignal;
  /** Environment for an image stream script given as the archive (default: PATH only). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Unpacks the image that `given` names (a docker-archive, gzip-compressed or not, or an image
 * stream script: whatever archive.ts's openArchive takes) into `root`, an empty directory the
 * caller owns and removes. Bad archives are InputErrors naming the file.
 */
export async function unpackImage(given: string, root: string, opts: UnpackOptions = {}): Promise<UnpackedImage> {
  const opened = await openArchive(given, { signal: opts.signal, env: opts.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  try {
    return await unpackArchive(opened.archive, root, given, opts.signal);
  } finally {
    opened.dispose();
  }
}

/** Applies the layers of an already read archive into `root`. `label` names it in messages. */
export async function unpackArchive(archive: DockerArchive, root: string, label = archive.file, signal?: AbortSignal): Promise<UnpackedImage> {
  const dirModes = new Map<string, number>();
  const skipped: string[] = [];
  for (const layer of archive.layers) {
    const st: LayerState = { unpacked: new Set(), dirModes, skipped };
    try {
      await readTar(await layerStream(archive, layer), (h, body) => {
        if (signal?.aborted) throw new UnpackAborted();
        return applyEntry(root, h, body, st);
      });
    } catch (err) {
      if (err instanceof InputError || err instanceof UnpackAborted) throw err;
      throw new InputError(`${label}: layer ${layer.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // Deepest first, so a read-only parent does not stop its children being set.
  for (const [dir, mode] of [...dirModes].sort((a, b) => b[0].length - a[0].length)) {
    try {
      if (lstatSync(dir).isDirectory()) chmodSync(dir, mode);
    } catch {
      /* removed by a later whiteout */
    }
  }
  return { root, config: runConfigOf(archive.config), layerCount: archive.layers.length, skipped };
}

/** Thrown when UnpackOptions.signal aborts an unpack. */
export class UnpackAborted extends Error {
  constructor() {
    super("unpack aborted");
    this.name = "AbortError";
  }
}

/** Removes an unpacked root even when its image made directories read-only (as a non-root user would otherwise fail). */
export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
    return;
  } catch {
    /* fall through: make directories writable, then retry */
  }
  const walk = (d: string) => {
    try {
      chmodSync(d, 0o700);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    } catch {
      /* best effort */
    }
  };
  walk(dir);
  rmSync(dir, { recursive: true, force: true });
}
