// Figures 3 to 5, against a real registry (Debian's docker-registry on 127.0.0.1 with TLS and
// htpasswd auth, test/helpers/registry.ts) with real docker-archives (test/helpers/archive.ts):
//
// 3. a no-op `nixway push` (the image is already there) vs the runbook's plain
//    `skopeo copy docker-archive:FILE docker://REPO:testing` of the same archive;
// 4. `nixway promote --from testing --to production` vs the runbook's
//    `skopeo copy docker://REPO:testing docker://REPO:production`;
// 5. the bytes an app-only change uploads, over the image's bytes, from the registry's own log
//    (the digests of committed blob uploads) and the sizes the pushed manifest gives them.
//
// nixway runs the way users run it, as a child process (`node bin/nixway.js ...`), like skopeo;
// the same command in-process is also given, to show how much of it is Node and tsx start-up.
// Credentials: nixway reads SCW_SECRET_KEY from its environment; skopeo gets a 0600 auth file in
// a private temp directory (--authfile), never --creds on its argv.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { main } from "../generator/cli.ts";
import type { CommandIo } from "../generator/command.ts";
import { run } from "../generator/proc.ts";
import { buildTestImage, type TestImage } from "../test/helpers/archive.ts";
import { REGISTRY_USER, requireTools, startRegistry, type TestRegistry } from "../test/helpers/registry.ts";
import { writeFiles } from "../test/helpers/temp-repo.ts";
import type { Report } from "./report.ts";
import { REPO_ROOT } from "./synthetic.ts";
import { interleavedMedians, timed } from "./timing.ts";

const BIN = path.join(REPO_ROOT, "bin", "nixway.js");
const MB = 1024 * 1024;

export interface ImageSize {
  /** In figure names: "5mb", "200mb". */
  label: string;
  bytes: number;
}

export interface RegistryBenchConfig {
  sizes: ImageSize[];
  /** Timed repetitions of each contender; the median is reported. */
  reps: number;
  /**
   * Gzip the archives (buildLayeredImage's .tar.gz). Off in the runs here: skopeo 1.9 (Debian 12)
   * cannot read a compressed docker-archive ("archive/tar: invalid tar header"), so the runbook's
   * plain copy has no peer figure for it; nixway gunzips such an archive before pushing.
   */
  gzip: boolean;
}

interface Manifest {
  config: { digest: string; size: number };
  layers: { digest: string; size: number }[];
}

interface Bench {
  registry: TestRegistry;
  work: string;
  root: string;
  repository: (service: string) => string;
  authFile: string;
  /** Environment of every child: SCW_SECRET_KEY only where nixway needs it. */
  env: NodeJS.ProcessEnv;
  nixwayEnv: NodeJS.ProcessEnv;
}

async function must(argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(argv, { env, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${argv[0]} ${argv[1] ?? ""} exited ${r.code ?? r.signal}:\n${r.stderr}`);
  return r.stdout;
}

/** The runbook's skopeo, with the credentials in the auth file and the test registry's CA trusted. */
function skopeoCopy(b: Bench, from: string, to: string, opts: { extra?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const fromRegistry = from.startsWith("docker://");
  return must(
    [
      "skopeo", "copy", "--authfile", b.authFile,
      ...(fromRegistry ? ["--src-cert-dir", b.registry.certDir] : []),
      "--dest-cert-dir", b.registry.certDir,
      ...(opts.extra ?? []), from, to,
    ],
    opts.env ?? b.env,
  );
}

/**
 * skopeo as on a machine that never pushed this image (a fresh CI runner): an empty blob-info
 * cache. That cache (which compressed digest each uncompressed layer had, and where it was seen)
 * lets skopeo skip reading an archive's layers; as root it lives in /var/lib/containers/cache,
 * shared by every run here. containers/image puts it under $HOME/.local/share instead when
 * _CONTAINERS_ROOTLESS_UID names a non-root user (its rootless.GetRootlessEUID; checked here: the
 * cache file appears in that HOME), so a fresh HOME is a cold cache, without touching the shared one.
 */
function coldCacheEnv(b: Bench): NodeJS.ProcessEnv {
  const home = mkdtempSync(path.join(b.work, "home-"));
  return { ...b.env, HOME: home, XDG_DATA_HOME: path.join(home, ".local", "share"), _CONTAINERS_ROOTLESS_UID: "65534" };
}

async function rawManifest(b: Bench, ref: string): Promise<{ digest: string; manifest: Manifest }> {
  const text = await must(["skopeo", "inspect", "--raw", "--authfile", b.authFile, "--cert-dir", b.registry.certDir, `docker://${ref}`], b.env);
  return { digest: `sha256:${createHash("sha256").update(text).digest("hex")}`, manifest: JSON.parse(text) as Manifest };
}

async function nixwayChild(b: Bench, argv: string[]): Promise<Record<string, unknown>> {
  const out = await must([process.execPath, BIN, ...argv, "--root", b.root, "--cert-dir", b.registry.certDir, "--json"], b.nixwayEnv);
  return JSON.parse(out) as Record<string, unknown>;
}

async function nixwayInProcess(b: Bench, argv: string[]): Promise<Record<string, unknown>> {
  let stdout = "";
  let stderr = "";
  const io: CommandIo = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } };
  const saved = process.env.SCW_SECRET_KEY;
  process.env.SCW_SECRET_KEY = b.registry.password;
  try {
    const code = await main([...argv, "--root", b.root, "--cert-dir", b.registry.certDir, "--json"], io);
    if (code !== 0) throw new Error(`nixway ${argv.join(" ")} exited ${code}:\n${stderr}`);
  } finally {
    if (saved === undefined) delete process.env.SCW_SECRET_KEY;
    else process.env.SCW_SECRET_KEY = saved;
  }
  return JSON.parse(stdout) as Record<string, unknown>;
}

function expect(what: string, ok: boolean, detail: unknown): void {
  if (!ok) throw new Error(`bench: ${what} (${JSON.stringify(detail)})`);
}

/** Bytes of the blobs committed since `mark`, sized by the image's manifest; every blob must be one of its own. */
function uploadedBytes(b: Bench, mark: number, manifest: Manifest): number {
  const sizes = new Map<string, number>([[manifest.config.digest, manifest.config.size], ...manifest.layers.map((l) => [l.digest, l.size] as [string, number])]);
  let total = 0;
  for (const u of b.registry.uploadsSince(mark)) {
    const size = sizes.get(u.digest);
    if (size === undefined) throw new Error(`bench: the registry committed blob ${u.digest}, which is not part of the pushed image`);
    total += size;
  }
  return total;
}

function imageBytes(manifest: Manifest): number {
  return manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
}

async function benchSize(report: Report, b: Bench, size: ImageSize, cfg: RegistryBenchConfig): Promise<{ promote: number }> {
  const service = `img-${size.label}`;
  const repo = b.repository(service);
  const ext = cfg.gzip ? "tar.gz" : "tar";
  // Nearly all of the image is the runtime layer (Bun, glibc, certificates in a real one); the app is small.
  const common = { seed: `bench-${size.label}`, runtimeBytes: Math.max(0, size.bytes - 64 * 1024), gzip: cfg.gzip };
  const v1: TestImage = await buildTestImage({ ...common, file: path.join(b.work, `${service}-v1.${ext}`), appVersion: "1" });
  const v2: TestImage = await buildTestImage({ ...common, file: path.join(b.work, `${service}-v2.${ext}`), appVersion: "2" });

  // First push: every blob goes up. Also checks the byte counting: it must account for the whole image.
  let mark = b.registry.mark();
  const first = await nixwayChild(b, ["push", service, "--archive", v1.file]);
  await b.registry.settle();
  expect("first push uploads", first.uploaded === true, first);
  const v1m = await rawManifest(b, `${repo}:${first.contentTag as string}`);
  expect("first push: uploaded bytes = image bytes", uploadedBytes(b, mark, v1m.manifest) === imageBytes(v1m.manifest), b.registry.uploadsSince(mark));

  // 3. No-op push vs skopeo's plain copy of the same archive (all leave testing at v1). skopeo
  //    twice: with this machine's warm blob-info cache (it pushed the image before) and with an
  //    empty one (a fresh CI runner), which compresses every layer again and uploads it again.
  let coldUploads = 0;
  let coldEnv: NodeJS.ProcessEnv = {};
  let logMark = 0;
  const noop = await interleavedMedians(
    cfg.reps,
    {
      nixway: () => nixwayChild(b, ["push", service, "--archive", v1.file]),
      skopeo: () => skopeoCopy(b, `docker-archive:${v1.file}`, `docker://${repo}:testing`),
      skopeoCold: () => skopeoCopy(b, `docker-archive:${v1.file}`, `docker://${repo}:testing`, { env: coldEnv }),
      inProcess: () => nixwayInProcess(b, ["push", service, "--archive", v1.file]),
    },
    {
      before: async (name) => {
        if (name === "skopeoCold") coldEnv = coldCacheEnv(b);
        logMark = b.registry.mark();
      },
      after: async (name, value) => {
        await b.registry.settle();
        const bytes = uploadedBytes(b, logMark, v1m.manifest);
        if (name === "nixway" || name === "inProcess") {
          expect("no-op push uploads nothing", (value as Record<string, unknown>).uploaded === false && bytes === 0, { value, bytes });
        }
        if (name === "skopeoCold") {
          coldUploads = bytes;
          rmSync(coldEnv.HOME!, { recursive: true, force: true });
        }
      },
    },
  );
  report.add(`push.noop.${size.label}.seconds`, noop.nixway);
  report.add(`push.skopeo_copy.${size.label}.seconds`, noop.skopeo);
  report.add(`push.noop_to_skopeo_copy.${size.label}.ratio`, noop.nixway / noop.skopeo);
  report.add(`push.skopeo_copy_cold_cache.${size.label}.seconds`, noop.skopeoCold);
  report.add(`push.skopeo_copy_cold_cache.${size.label}.uploaded_bytes`, coldUploads);
  report.add(`push.noop_to_skopeo_copy_cold_cache.${size.label}.ratio`, noop.nixway / noop.skopeoCold);
  report.add(`push.noop_in_process.${size.label}.seconds`, noop.inProcess);
  report.add(`push.noop_in_process_to_skopeo_copy_cold_cache.${size.label}.ratio`, noop.inProcess / noop.skopeoCold);

  // 5. App-only change: v2 differs from v1 in the app layer only.
  mark = b.registry.mark();
  const appPush = await timed(() => nixwayChild(b, ["push", service, "--archive", v2.file]));
  await b.registry.settle();
  expect("app-only push uploads", appPush.value.uploaded === true, appPush.value);
  const v2m = await rawManifest(b, `${repo}:${appPush.value.contentTag as string}`);
  const uploaded = uploadedBytes(b, mark, v2m.manifest);
  const total = imageBytes(v2m.manifest);
  report.add(`app_only.${size.label}.uploaded_bytes`, uploaded);
  report.add(`app_only.${size.label}.image_bytes`, total);
  report.add(`app_only.${size.label}.uploaded_fraction`, uploaded / total);
  report.add(`push.app_only.${size.label}.seconds`, appPush.seconds);

  // 4. Promote testing (v2) -> production, each run starting with production on v1.
  const setBack = () => skopeoCopy(b, `docker://${repo}@${v1m.digest}`, `docker://${repo}:production`, { extra: ["--preserve-digests"] }).then(() => undefined);
  const promote = await interleavedMedians(
    cfg.reps,
    {
      nixway: () => nixwayChild(b, ["promote", service, "--from", "testing", "--to", "production"]),
      skopeo: () => skopeoCopy(b, `docker://${repo}:testing`, `docker://${repo}:production`),
      inProcess: () => nixwayInProcess(b, ["promote", service, "--from", "testing", "--to", "production"]),
    },
    {
      before: async () => {
        await setBack();
        logMark = b.registry.mark();
      },
      after: async (name, value) => {
        if (name !== "skopeo") expect("promote moves production", (value as Record<string, unknown>).changed === true, value);
        await b.registry.settle();
        expect(`promote (${name}) uploads no blob`, b.registry.uploadsSince(logMark).length === 0, b.registry.uploadsSince(logMark));
      },
    },
  );
  const production = await rawManifest(b, `${repo}:production`);
  expect("production ends on the testing image", production.digest === v2m.digest, { production: production.digest, testing: v2m.digest });
  report.add(`promote.${size.label}.seconds`, promote.nixway);
  report.add(`promote.skopeo_retag.${size.label}.seconds`, promote.skopeo);
  report.add(`promote.to_skopeo_retag.${size.label}.ratio`, promote.nixway / promote.skopeo);
  report.add(`promote.in_process.${size.label}.seconds`, promote.inProcess);
  report.add(`promote.in_process_to_skopeo_retag.${size.label}.ratio`, promote.inProcess / promote.skopeo);

  rmSync(v1.file, { force: true });
  rmSync(v2.file, { force: true });
  return { promote: promote.nixway };
}

export async function benchRegistry(report: Report, cfg: RegistryBenchConfig): Promise<void> {
  requireTools();
  report.describe(
    "registry",
    `Debian docker-registry on 127.0.0.1 (TLS, htpasswd); two-layer docker-archives (runtime filler + app)${cfg.gzip ? ", gzip-compressed like buildLayeredImage's output" : ""}. ` +
      `nixway as a child process (node bin/nixway.js, SCW_SECRET_KEY in its environment) vs skopeo with --authfile; ` +
      `skopeo_copy: this machine's warm blob-info cache; skopeo_copy_cold_cache: an empty one (fresh HOME, _CONTAINERS_ROOTLESS_UID), as on a fresh CI runner; ` +
      `interleaved, median of ${cfg.reps}. *.in_process / *_in_process: the same nixway command run in this process (no Node/tsx start-up). ` +
      `app_only: blobs committed by the registry (its log) during the push of an app-only change, sized from the pushed manifest, over config + layer bytes.`,
  );
  const registry = await startRegistry();
  const work = mkdtempSync(path.join(os.tmpdir(), "nixway-bench-registry-"));
  try {
    const authDir = mkdtempSync(path.join(work, "auth-")); // 0700 like every mkdtemp
    const authFile = path.join(authDir, "auth.json");
    const auth = Buffer.from(`${REGISTRY_USER}:${registry.password}`).toString("base64");
    writeFileSync(authFile, JSON.stringify({ auths: { [registry.host]: { auth } } }) + "\n", { mode: 0o600, flag: "wx" });
    const root = path.join(work, "repo");
    const services: Record<string, string> = { "nixway.yaml": `registry: ${registry.host}/bench\n` };
    for (const s of cfg.sizes) {
      services[`services/img-${s.label}/service.yaml`] = `name: img-${s.label}\nport: 8080\napp:\n  entry: index.ts\n`;
      services[`services/img-${s.label}/app/index.ts`] = "export {};\n";
    }
    await writeFiles(root, services);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.SCW_SECRET_KEY;
    delete env.REGISTRY_AUTH_FILE;
    const b: Bench = {
      registry,
      work,
      root,
      repository: (service) => `${registry.host}/bench/${service}`,
      authFile,
      env,
      nixwayEnv: { ...env, SCW_SECRET_KEY: registry.password },
    };
    const promote: Record<string, number> = {};
    for (const size of cfg.sizes) promote[size.label] = (await benchSize(report, b, size, cfg)).promote;
    if (cfg.sizes.length >= 2) {
      const small = cfg.sizes[0];
      const large = cfg.sizes[cfg.sizes.length - 1];
      report.add(`promote.${large.label}_to_${small.label}.ratio`, promote[large.label] / promote[small.label]);
    }
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export function sizeOf(label: string): ImageSize {
  const m = /^(\d+)mb$/.exec(label);
  if (!m) throw new Error(`bench: image size ${label}: use e.g. 5mb`);
  return { label, bytes: Number(m[1]) * MB };
}
