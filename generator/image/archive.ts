// Reads a docker-archive, the image format `nix build` produces and skopeo pushes
// (`docker-archive:`): a tar holding manifest.json ([{Config, RepoTags, Layers}]), the image config
// JSON and one tar per layer. What push needs from it, before talking to any registry: the config
// digest (the content tag), the architecture (Scaleway runs amd64 only), and the layers with their
// sizes (the image-size budget).
//
// The archive may be given as the file itself (plain or gzip-compressed, like buildLayeredImage's
// .tar.gz), or as the executable that dockerTools.streamLayeredImage builds, which writes the
// archive to stdout: that one is run (argv, no shell) into a file in a private temp directory.
//
// Only headers, manifest.json and the config are read; layer contents are skipped by offset.
import { createHash } from "node:crypto";
import { constants, createReadStream, createWriteStream, openSync, closeSync, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGunzip, deflateRaw } from "node:zlib";
import { InputError, OperationError } from "../diagnostics.ts";
import { run } from "../proc.ts";
import { interruptibleSignal, makePrivateDir } from "../registry/cleanup.ts";

/** The image config fields nixway reads (OCI image config / docker container config). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: {
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    Env?: string[] | null;
    ExposedPorts?: Record<string, unknown> | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string> | null;
  };
  rootfs?: { type?: string; diff_ids?: string[] };
}

export interface ArchiveLayer {
  /** Path of the layer inside the archive, as manifest.json names it. */
  path: string;
  /** sha256:... of the uncompressed layer (the config's rootfs.diff_ids entry), when the config has it. */
  diffId: string | undefined;
  /** Size in the archive, in bytes (uncompressed unless `compressed`). */
  size: number;
  /** True when the layer is stored gzip- or zstd-compressed already. */
  compressed: boolean;
  /** Byte offset of the layer's content in `file`. */
  offset: number;
}

export interface DockerArchive {
  /** The uncompressed archive file that was read (a temp copy for gzip archives and stream scripts). */
  file: string;
  /** sha256:... of the config JSON, exactly as the registry will name the config blob. */
  configDigest: string;
  config: ImageConfig;
  architecture: string;
  os: string;
  repoTags: string[];
  layers: ArchiveLayer[];
  /** Sum of the layer sizes in the archive. */
  size: number;
}

interface TarEntry {
  name: string;
  type: string;
  size: number;
  offset: number;
  linkname: string;
}

const BLOCK = 512;
/** manifest.json and image configs are a few KB; refuse to read absurd ones into memory. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;
const MAX_ENTRIES = 200_000;
const deflateRawAsync = promisify(deflateRaw);

function cstr(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? slice.length : nul).toString("utf8");
}

function parseNumber(buf: Buffer, start: number, len: number): number {
  if (buf[start] & 0x80) {
    // GNU base-256 for sizes over 8 GB.
    let n = buf[start] & 0x7f;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + buf[i];
    return n;
  }
  const text = cstr(buf, start, len).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = parseNumber(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === stored;
}

/** True when `head` (the first 512 bytes of a file) is a tar header. */
export function looksLikeTar(head: Buffer): boolean {
  return head.length >= BLOCK && head.subarray(257, 262).toString("latin1") === "ustar" && checksumOk(head);
}

function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

function isZstd(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;
}

function normalizeName(name: string): string {
  return path.posix.normalize(name.replace(/^\/+/, "")).replace(/^(\.\/)+/, "").replace(/\/+$/, "");
}

/** Pax extended header records: "LEN key=value\n"... */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = parseInt(data.subarray(pos, space).toString("ascii"), 10);
    if (!(len > 0)) break;
    const record = data.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/**
 * Every entry of the tar (headers only), by normalized name. `range` reads a tar nested in the file
 * (a layer); `maxEntries` stops early without error when given.
 */
async function listTar(fh: FileHandle, label: string, range?: { start: number; end: number; maxEntries: number }): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  const fileSize = range ? range.end : (await fh.stat()).size;
  let pos = range?.start ?? 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (pos + BLOCK <= fileSize) {
    const h = await readAt(fh, pos, BLOCK);
    if (h.length < BLOCK || h.every((b) => b === 0)) break;
    if (!checksumOk(h)) throw new InputError(`${label}: not a valid tar archive (bad header checksum at byte ${pos})`);
    const type = String.fromCharCode(h[156] || 0x30);
    let size = parseNumber(h, 124, 12);
    if (pax.size !== undefined) size = Number(pax.size);
    const dataOffset = pos + BLOCK;
    pos = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L" || type === "K" || type === "x" || type === "g") {
      if (size > MAX_JSON_BYTES) throw new InputError(`${label}: tar extension header of ${size} bytes`);
      const data = await readAt(fh, dataOffset, size);
      if (type === "L") longName = cstr(data, 0, data.length);
      else if (type === "K") longLink = cstr(data, 0, data.length);
      else if (type === "x") pax = parsePax(data);
      continue;
    }
    const ustar = h.subarray(257, 263).toString("latin1") === "ustar\0";
    const prefix = ustar ? cstr(h, 345, 155) : "";
    const rawName = pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    const linkname = pax.linkpath ?? longLink ?? cstr(h, 157, 100);
    const name = normalizeName(rawName);
    entries.set(name, { name, type, size, offset: dataOffset, linkname });
    longName = longLink = undefined;
    pax = {};
    if (range && entries.size >= range.maxEntries) return entries;
    if (entries.size > MAX_ENTRIES) throw new InputError(`${label}: more than ${MAX_ENTRIES} entries; not a docker-archive`);
  }
  if (pos > fileSize) throw new InputError(`${label}: truncated tar archive (${fileSize} bytes; the last entry needs ${pos})`);
  return entries;
}

/** The regular file `name` refers to, following symlinks and hard links inside the archive. */
function resolveEntry(entries: Map<string, TarEntry>, name: string): TarEntry | undefined {
  let current = normalizeName(name);
  for (let hops = 0; hops < 16; hops++) {
    const e = entries.get(current);
    if (!e) return undefined;
    if (e.type === "2") current = normalizeName(e.linkname.startsWith("/") ? e.linkname : path.posix.join(path.posix.dirname(current), e.linkname));
    else if (e.type === "1") current = normalizeName(e.linkname);
    else return e.type === "0" || e.type === "7" ? e : undefined;
  }
  return undefined;
}

async function readJsonEntry(fh: FileHandle, entries: Map<string, TarEntry>, name: string, label: string): Promise<{ bytes: Buffer; value: unknown }> {
  const e = resolveEntry(entries, name);
  if (!e) throw new InputError(`${label}: ${name} is missing from the archive`);
  if (e.size > MAX_JSON_BYTES) throw new InputError(`${label}: ${name} is ${e.size} bytes, too large for an image manifest or config`);
  const bytes = await readAt(fh, e.offset, e.size);
  try {
    return { bytes, value: JSON.parse(bytes.toString("utf8")) };
  } catch {
    throw new InputError(`${label}: ${name} is not valid JSON`);
  }
}

/**
 * Reads the docker-archive at `file` (an uncompressed tar). `label` names it in messages
 * (default: the path). Throws InputError when it is not a single-image docker-archive.
 */
export async function readDockerArchive(file: string, label = file): Promise<DockerArchive> {
  const fh = await open(file, "r");
  try {
    const entries = await listTar(fh, label);
    if (!entries.has("manifest.json")) {
      throw new InputError(`${label}: no manifest.json: not a docker-archive (an OCI layout or a plain tar is not accepted)`);
    }
    const { value: manifest } = await readJsonEntry(fh, entries, "manifest.json", label);
    if (!Array.isArray(manifest) || manifest.length === 0) throw new InputError(`${label}: manifest.json lists no image`);
    if (manifest.length > 1) throw new InputError(`${label}: the archive holds ${manifest.length} images; nixway pushes an archive of exactly one`);
    const m = manifest[0] as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
    if (typeof m.Config !== "string" || !Array.isArray(m.Layers) || !m.Layers.every((l) => typeof l === "string")) {
      throw new InputError(`${label}: manifest.json entry lacks Config or Layers`);
    }
    const { bytes: configBytes, value: configValue } = await readJsonEntry(fh, entries, m.Config, label);
    if (configValue === null || typeof configValue !== "object" || Array.isArray(configValue)) {
      throw new InputError(`${label}: ${m.Config} is not an image config object`);
    }
    const config = configValue as ImageConfig;
    const diffIds = Array.isArray(config.rootfs?.diff_ids) ? config.rootfs.diff_ids : [];
    if (diffIds.length && diffIds.length !== m.Layers.length) {
      throw new InputError(`${label}: the config lists ${diffIds.length} layer digests but manifest.json ${m.Layers.length} layers`);
    }
    const layers: ArchiveLayer[] = [];
    for (const [i, layerPath] of (m.Layers as string[]).entries()) {
      const e = resolveEntry(entries, layerPath);
      if (!e) throw new InputError(`${label}: layer ${layerPath} named in manifest.json is missing from the archive`);
      const head = await readAt(fh, e.offset, Math.min(4, e.size));
      layers.push({ path: layerPath, diffId: diffIds[i], size: e.size, compressed: isGzip(head) || isZstd(head), offset: e.offset });
    }
    return {
      file,
      configDigest: `sha256:${createHash("sha256").update(configBytes).digest("hex")}`,
      config,
      architecture: typeof config.architecture === "string" ? config.architecture : "",
      os: typeof config.os === "string" ? config.os : "",
      repoTags: Array.isArray(m.RepoTags) ? m.RepoTags.filter((t): t is string => typeof t === "string") : [],
      layers,
      size: layers.reduce((n, l) => n + l.size, 0),
    };
  } finally {
    await fh.close();
  }
}

export interface OpenedArchive {
  archive: DockerArchive;
  /** How it was given: the tar itself, a gzip-compressed tar, or a stream script that printed it. */
  source: "tar" | "gzip" | "stream";
  /** Removes the temp copy, if one was made (idempotent). */
  dispose(): void;
}

export interface OpenArchiveOptions {
  /** Environment of a stream script (the caller removes secrets from it). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Name of the argument in messages, e.g. "--archive result". */
  label?: string;
}

/**
 * Opens what `--archive` names: a docker-archive (plain or gzip) or an executable image stream
 * script. Temp copies live in a private 0700 directory removed by dispose(), or on exit/signal.
 */
export async function openArchive(given: string, opts: OpenArchiveOptions = {}): Promise<OpenedArchive> {
  const label = opts.label ?? given;
  let st;
  try {
    st = statSync(given);
  } catch {
    throw new InputError(`${label}: no such file (build the image first, e.g. nix build .#<service>-image)`);
  }
  if (!st.isFile()) throw new InputError(`${label}: not a file`);
  const head = await readHead(given);

  if (looksLikeTar(head)) {
    return { archive: await readDockerArchive(given, label), source: "tar", dispose: () => {} };
  }
  const temp = makePrivateDir("nixway-image-");
  try {
    const out = path.join(temp.dir, "image.tar");
    if (isGzip(head)) {
      await gunzipTo(given, out, label);
      return { archive: await readDockerArchive(out, label), source: "gzip", dispose: temp.dispose };
    }
    const executable = (st.mode & 0o111) !== 0;
    const script = head.subarray(0, 2).toString("latin1") === "#!" || head.subarray(0, 4).toString("latin1") === "\x7fELF";
    if (!(executable && script)) {
      throw new InputError(`${label}: neither a docker-archive (tar or tar.gz) nor an executable image stream script`);
    }
    await runStreamScript(path.resolve(given), out, label, opts);
    let file = out;
    const streamed = await readHead(out);
    if (isGzip(streamed)) {
      file = path.join(temp.dir, "image-unzipped.tar");
      await gunzipTo(out, file, label);
    } else if (!looksLikeTar(streamed)) {
      throw new InputError(`${label}: the stream script ran but did not print a docker-archive on stdout`);
    }
    return { archive: await readDockerArchive(file, label), source: "stream", dispose: temp.dispose };
  } catch (err) {
    temp.dispose();
    throw err;
  }
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    return await readAt(fh, 0, BLOCK);
  } finally {
    await fh.close();
  }
}

async function gunzipTo(from: string, to: string, label: string): Promise<void> {
  try {
    await pipeline(createReadStream(from), createGunzip(), createWriteStream(to, { mode: 0o600, flags: "wx" }));
  } catch (err) {
    throw new InputError(`${label}: cannot decompress: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function runStreamScript(script: string, out: string, label: string, opts: OpenArchiveOptions): Promise<void> {
  const fd = openSync(out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  const interrupt = interruptibleSignal(opts.signal);
  try {
    const result = await run([script], { env: opts.env, stdoutFd: fd, signal: interrupt.signal, cwd: os.tmpdir() });
    if (result.code !== 0) {
      const why = result.signal ? `was stopped by ${result.signal}` : `exited with status ${result.code}`;
      const stderr = result.stderr.trim().split("\n").slice(-10).join("\n");
      throw new OperationError(`${label}: the image stream script ${why}${stderr ? `:\n${stderr}` : ""}`);
    }
  } finally {
    interrupt.release();
    closeSync(fd);
  }
}

/** Layers are estimated in chunks of this size, compressed in parallel (skopeo's pgzip works the same way). */
const ESTIMATE_CHUNK = 4 * 1024 * 1024;
/** gzip header and trailer around the deflate stream. */
const GZIP_FRAMING = 18;

/**
 * About how many bytes each layer takes once gzip-compressed for the registry (skopeo compresses
 * uncompressed layers with gzip before upload): layers stored compressed count as they are; the
 * others are deflated here at gzip's default level in 4 MB chunks on all cores. Within a few percent
 * of what skopeo uploads; used for the image-size budget before anything is pushed.
 */
export async function estimateCompressedLayerSizes(archive: DockerArchive): Promise<number[]> {
  const sizes = archive.layers.map((l) => (l.compressed ? l.size : l.size === 0 ? 0 : GZIP_FRAMING));
  const jobs: { layer: number; start: number; length: number }[] = [];
  for (const [i, l] of archive.layers.entries()) {
    if (l.compressed) continue;
    for (let off = 0; off < l.size; off += ESTIMATE_CHUNK) jobs.push({ layer: i, start: l.offset + off, length: Math.min(ESTIMATE_CHUNK, l.size - off) });
  }
  const fh = await open(archive.file, "r");
  try {
    const worker = async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        const chunk = await readAt(fh, job.start, job.length);
        const compressed = (await deflateRawAsync(chunk)).length; // awaited first: `sizes[i] += await ...` would lose updates
        sizes[job.layer] += compressed;
      }
    };
    const parallel = Math.max(2, Math.min(jobs.length, os.availableParallelism()));
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    await fh.close();
  }
  return sizes;
}

/**
 * What a layer holds, for messages about large layers: its top-level paths, with Nix store paths
 * kept whole (`/nix/store/...-bun-1.1.34`: one store path per layer is how nix layers images).
 * Reads at most the first `maxEntries` headers; empty for compressed layers.
 */
export async function layerTopPaths(archive: DockerArchive, index: number, max = 3, maxEntries = 5000): Promise<string[]> {
  const layer = archive.layers[index];
  if (!layer || layer.compressed || layer.size < BLOCK) return [];
  const fh = await open(archive.file, "r");
  try {
    let entries: Map<string, TarEntry>;
    try {
      entries = await listTar(fh, "layer", { start: layer.offset, end: layer.offset + layer.size, maxEntries });
    } catch {
      return [];
    }
    // Rank top-level paths by the bytes under them.
    const bytes = new Map<string, number>();
    for (const e of entries.values()) {
      const parts = e.name.split("/");
      const top = parts[0] === "nix" && parts[1] === "store" && parts.length >= 3 ? parts.slice(0, 3).join("/") : parts[0];
      if (!top) continue;
      bytes.set(top, (bytes.get(top) ?? 0) + e.size);
    }
    return [...bytes.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, max)
      .map(([p]) => `/${p}`);
  } finally {
    await fh.close();
  }
}
