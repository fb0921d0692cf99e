// Builds runnable docker-archives for the smoke tests: layers are directory trees on disk,
// packed with the system tar (GNU and POSIX formats, as real image builders emit), and the
// runtime layer holds the real bun binary from node_modules plus the host's shared libraries
// it links against (found with ldd), so the image's Cmd really runs in a chroot.
import { chmodSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../../generator/proc.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

export interface LayerSpec {
  /** The layer's tree on disk; its paths are the image's paths. */
  dir: string;
  /** Members to pack, relative to dir, in order (default "."): naming a file alone leaves out its parent directories. */
  members?: string[];
  /** Tar format (default gnu). */
  format?: "gnu" | "posix";
  /** Store the layer gzip-compressed. */
  gzip?: boolean;
}

async function tar(args: string[]): Promise<void> {
  const r = await run(["tar", ...args], { env: ENV, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`tar ${args.join(" ")} failed (exit ${r.code}): ${r.stderr}`);
}

/** Writes a docker-archive (manifest.json, <config digest>.json, <n>/layer.tar) to `file`; `gzip` compresses the whole archive. */
export async function writeDockerArchive(file: string, layers: LayerSpec[], config: Record<string, unknown>, opts: { gzip?: boolean } = {}): Promise<void> {
  const stage = mkdtempSync(path.join(os.tmpdir(), "nixway-test-archive-"));
  try {
    const layerNames: string[] = [];
    for (const [i, layer] of layers.entries()) {
      const name = `${i}/layer.tar`;
      mkdirSync(path.join(stage, String(i)));
      await tar([
        "--create", `--file=${path.join(stage, name)}`, `--format=${layer.format ?? "gnu"}`,
        "--owner=0", "--group=0", "--numeric-owner", "--sort=name", "--mtime=@1", ...(layer.gzip ? ["--gzip"] : []),
        "-C", layer.dir, "--", ...(layer.members ?? ["."]),
      ]);
      layerNames.push(name);
    }
    const configText = JSON.stringify({ architecture: "amd64", os: "linux", config, rootfs: { type: "layers", diff_ids: [] } });
    const configName = `${createHash("sha256").update(configText).digest("hex")}.json`;
    writeFileSync(path.join(stage, configName), configText);
    writeFileSync(path.join(stage, "manifest.json"), JSON.stringify([{ Config: configName, RepoTags: ["smoke-test:latest"], Layers: layerNames }]));
    await tar(["--create", `--file=${file}`, "--format=gnu", ...(opts.gzip ? ["--gzip"] : []), "-C", stage, "--", "manifest.json", configName, ...layerNames]);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The real bun binary the repo's tests run. */
export function hostBun(): string {
  return realpathSync(path.join(REPO_ROOT, "node_modules", ".bin", "bun"));
}

/** Shared libraries `binary` needs (ldd), as absolute paths: where the loader looks for them in the image too. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await run(["ldd", binary], { env: ENV, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`ldd ${binary} failed (exit ${r.code}): ${r.stderr}`);
  const libs: string[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

function place(src: string, dest: string, mode: number): void {
  mkdirSync(path.dirname(dest), { recursive: true });
  try {
    linkSync(src, dest); // a 100 MB binary need not be copied when /tmp is on the same filesystem
  } catch {
    copyFileSync(src, dest);
  }
  chmodSync(dest, mode);
}

export interface BunImage {
  file: string;
  /** The image config as written (Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts). */
  config: Record<string, unknown>;
  /** Where the bun binary lives in the image, like a Nix store path. */
  bunPath: string;
}

/**
 * A two-layer image shaped like a Nix one (`opts.config` overrides config fields): layer 1 has bun under /nix/store with /bin a symlink
 * to it, the host's libc and loader, /etc/passwd with user "app" (1000:1000), and files layer 2
 * deletes; layer 2 has `appSource` as /app/index.ts, a whiteout of /etc/obsolete.conf and an
 * opaque /srv/cache holding only "fresh".
 */
export async function buildBunImage(
  file: string,
  appSource: string,
  opts: { config?: Record<string, unknown>; appMode?: number } = {},
): Promise<BunImage> {
  const work = mkdtempSync(path.join(os.tmpdir(), "nixway-test-rootfs-"));
  try {
    const runtime = path.join(work, "runtime");
    const bunDir = "nix/store/0123456789abcdfghijklmnpqrsvwxyz-bun-1.4.5";
    const bun = hostBun();
    place(bun, path.join(runtime, bunDir, "bin", "bun"), 0o755);
    for (const lib of await sharedLibraries(bun)) place(realpathSync(lib), path.join(runtime, lib), 0o755);
    symlinkSync(`/${bunDir}/bin`, path.join(runtime, "bin"));
    mkdirSync(path.join(runtime, "etc"));
    writeFileSync(path.join(runtime, "etc", "passwd"), "root:x:0:0:root:/root:/noshell\napp:x:1000:1000:app:/home/app:/noshell\n");
    writeFileSync(path.join(runtime, "etc", "group"), "root:x:0:\napp:x:1000:\n");
    writeFileSync(path.join(runtime, "etc", "obsolete.conf"), "deleted by the app layer\n");
    mkdirSync(path.join(runtime, "srv", "cache"), { recursive: true });
    writeFileSync(path.join(runtime, "srv", "cache", "stale-1"), "hidden by the app layer\n");
    writeFileSync(path.join(runtime, "srv", "cache", "stale-2"), "hidden by the app layer\n");

    const app = path.join(work, "app");
    mkdirSync(path.join(app, "app"), { recursive: true });
    writeFileSync(path.join(app, "app", "index.ts"), appSource);
    chmodSync(path.join(app, "app", "index.ts"), opts.appMode ?? 0o644);
    mkdirSync(path.join(app, "etc"));
    writeFileSync(path.join(app, "etc", ".wh.obsolete.conf"), "");
    mkdirSync(path.join(app, "srv", "cache"), { recursive: true });
    writeFileSync(path.join(app, "srv", "cache", ".wh..wh..opq"), "");
    writeFileSync(path.join(app, "srv", "cache", "fresh"), "written by the app layer\n");

    const config = {
      Entrypoint: ["/bin/bun"],
      Cmd: ["/app/index.ts"],
      Env: ["PATH=/bin", "IMAGE_MARK=from-image"],
      User: "app",
      WorkingDir: "/app",
      ExposedPorts: { "8080/tcp": {} },
      ...opts.config,
    };
    await writeDockerArchive(file, [{ dir: runtime }, { dir: app, format: "posix" }], config);
    return { file, config, bunPath: `/${bunDir}/bin/bun` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The app the image runs: /health is 200 only when it sees what a chrooted container would. */
export async function chrootCheckingApp(): Promise<string> {
  return readFile(path.join(REPO_ROOT, "test", "fixtures", "smoke", "services", "image-app", "app", "index.ts"), "utf8");
}
