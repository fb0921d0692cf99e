// Builds docker-archives for tests, the way nix's streamLayeredImage lays them out
// (manifest.json, <config sha256>.json, <diff id>/layer.tar), from real files: a "runtime" layer
// with binaries copied from this machine and an "app" layer with the example service's source,
// so that an app-only change rebuilds one layer and keeps the other byte for byte. Optional
// incompressible filler (deterministic pseudo-random bytes) sizes the layers for size-budget tests
// and benchmarks (e.g. 5 MB, 200 MB). Written as a stream: a 200 MB image never sits in memory.
import { createCipheriv, createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, type WriteStream } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Real executables for the runtime layer (symlinks resolved), as they exist on this Debian machine. */
export const RUNTIME_FILES: Record<string, string> = {
  "bin/sh": "/bin/sh",
  "usr/bin/env": "/usr/bin/env",
};
/** The example service's app, for the app layer. */
export const APP_FILES: Record<string, string> = {
  "app/index.ts": path.join(REPO_ROOT, "services/hello/app/index.ts"),
};

export interface TestImageOptions {
  /** Where to write the archive. */
  file: string;
  /** Config `architecture` (default amd64). */
  architecture?: string;
  /** Written into the app layer: a different value changes the app layer (and the config) only. */
  appVersion?: string;
  /** Incompressible filler bytes in the runtime / app layer (default 0). */
  runtimeBytes?: number;
  appBytes?: number;
  /** Seed of the filler: equal seeds and sizes give equal bytes. Default "nixway". */
  seed?: string;
  cmd?: string[];
  exposedPorts?: string[];
  /** Gzip the whole archive, like dockerTools.buildLayeredImage's .tar.gz. */
  gzip?: boolean;
}

export interface TestImage {
  file: string;
  /** sha256:... of the config JSON: what nixway's content tag is made from. */
  configDigest: string;
  /** Uncompressed layer digests, runtime first. */
  diffIds: string[];
  layerSizes: number[];
  config: Record<string, unknown>;
}

/* ------------------------------------------------------------------ a minimal ustar writer */

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function tarHeader(name: string, size: number, type: "0" | "5", mode: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`test archive: name too long for this writer: ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(1, 12), 136, "ascii"); // mtime 1, as nix does: deterministic
  h.write("        ", 148, "ascii");
  h.write(type, 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write("root", 265, "ascii");
  h.write("root", 297, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

class TarWriter {
  private readonly out: WriteStream;
  private readonly hash = createHash("sha256");
  size = 0;
  constructor(file: string) {
    this.out = createWriteStream(file);
  }
  private async write(buf: Buffer): Promise<void> {
    this.hash.update(buf);
    this.size += buf.length;
    if (!this.out.write(buf)) await once(this.out, "drain");
  }
  async dir(name: string): Promise<void> {
    await this.write(tarHeader(name.endsWith("/") ? name : name + "/", 0, "5", 0o755));
  }
  async file(name: string, size: number, content: Buffer | AsyncIterable<Buffer>, mode = 0o644): Promise<void> {
    await this.write(tarHeader(name, size, "0", mode));
    let written = 0;
    if (Buffer.isBuffer(content)) {
      await this.write(content);
      written = content.length;
    } else {
      for await (const chunk of content) {
        await this.write(chunk);
        written += chunk.length;
      }
    }
    if (written !== size) throw new Error(`test archive: ${name}: wrote ${written} bytes, header says ${size}`);
    const pad = (512 - (size % 512)) % 512;
    if (pad) await this.write(Buffer.alloc(pad));
  }
  async finish(): Promise<{ digest: string; size: number }> {
    await this.write(Buffer.alloc(1024));
    this.out.end();
    await once(this.out, "close");
    return { digest: `sha256:${this.hash.digest("hex")}`, size: this.size };
  }
}

/** Deterministic incompressible bytes: AES-256-CTR keystream keyed by the seed. */
async function* filler(seed: string, bytes: number): AsyncIterable<Buffer> {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= zeros.length) {
    yield cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
  }
}

async function* fileChunks(file: string): AsyncIterable<Buffer> {
  for await (const chunk of createReadStream(file)) yield chunk as Buffer;
}

function parentDirs(names: string[]): string[] {
  const dirs = new Set<string>();
  for (const n of names) {
    const parts = n.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  return [...dirs].sort();
}

interface LayerSource {
  files: Record<string, { path: string; mode: number } | { text: string } | { filler: number; seed: string }>;
}

async function writeLayer(file: string, layer: LayerSource): Promise<{ digest: string; size: number }> {
  const tar = new TarWriter(file);
  const names = Object.keys(layer.files).sort();
  for (const d of parentDirs(names)) await tar.dir(d);
  for (const name of names) {
    const src = layer.files[name];
    if ("path" in src) {
      const real = realpathSync(src.path);
      await tar.file(name, statSync(real).size, fileChunks(real), src.mode);
    } else if ("text" in src) {
      const buf = Buffer.from(src.text);
      await tar.file(name, buf.length, buf);
    } else {
      await tar.file(name, src.filler, filler(src.seed, src.filler));
    }
  }
  return tar.finish();
}

/** Writes a two-layer (runtime + app) docker-archive to opts.file. */
export async function buildTestImage(opts: TestImageOptions): Promise<TestImage> {
  const seed = opts.seed ?? "nixway";
  const work = mkdtempSync(path.join(os.tmpdir(), "nixway-test-image-"));
  try {
    const runtime: LayerSource = { files: {} };
    for (const [name, src] of Object.entries(RUNTIME_FILES)) runtime.files[name] = { path: src, mode: 0o755 };
    if (opts.runtimeBytes) runtime.files["lib/runtime.bin"] = { filler: opts.runtimeBytes, seed: `${seed}/runtime` };
    const app: LayerSource = { files: {} };
    for (const [name, src] of Object.entries(APP_FILES)) app.files[name] = { text: readFileSync(src, "utf8") };
    app.files["app/VERSION"] = { text: `${opts.appVersion ?? "1"}\n` };
    app.files["app/SEED"] = { text: `${seed}\n` }; // distinct seeds, distinct images
    if (opts.appBytes) app.files["app/assets.bin"] = { filler: opts.appBytes, seed: `${seed}/app/${opts.appVersion ?? "1"}` };

    const layers: { file: string; digest: string; size: number }[] = [];
    for (const [i, l] of [runtime, app].entries()) {
      const f = path.join(work, `layer${i}.tar`);
      layers.push({ file: f, ...(await writeLayer(f, l)) });
    }
    const config = {
      architecture: opts.architecture ?? "amd64",
      os: "linux",
      created: "1970-01-01T00:00:01Z",
      config: {
        Cmd: opts.cmd ?? ["/bin/sh", "-c", "exec /app/index.ts"],
        Env: ["PORT=8080", "NODE_ENV=production"],
        ExposedPorts: Object.fromEntries((opts.exposedPorts ?? ["8080/tcp"]).map((p) => [p, {}])),
        WorkingDir: "/app",
      },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      history: layers.map(() => ({ created: "1970-01-01T00:00:01Z", created_by: "nixway test helper" })),
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configHex = createHash("sha256").update(configBytes).digest("hex");
    const layerPaths = layers.map((l) => `${l.digest.slice("sha256:".length)}/layer.tar`);
    const manifest = Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ["test-image:latest"], Layers: layerPaths }]));

    const plain = opts.gzip ? path.join(work, "image.tar") : opts.file;
    const outer = new TarWriter(plain);
    await outer.file("manifest.json", manifest.length, manifest);
    await outer.file(`${configHex}.json`, configBytes.length, configBytes);
    for (const [i, l] of layers.entries()) {
      await outer.dir(path.dirname(layerPaths[i]));
      await outer.file(layerPaths[i], l.size, fileChunks(l.file));
    }
    await outer.finish();
    if (opts.gzip) await pipeline(createReadStream(plain), createGzip(), createWriteStream(opts.file));
    return {
      file: opts.file,
      configDigest: `sha256:${configHex}`,
      diffIds: layers.map((l) => l.digest),
      layerSizes: layers.map((l) => l.size),
      config,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
