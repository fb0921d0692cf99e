// `nixway push`: a docker-archive to `<registry>/<service>`, under its content tag and then the
// mutable tags.
//
// Order matters for interruptions: the image goes to the content tag first (skopeo uploads the blobs,
// then PUTs the manifest last, and the registry refuses a manifest whose blobs are missing), and
// only once that succeeded are the mutable tags pointed at it. A push killed at any moment leaves
// every mutable tag where it was; running it again reuses the blobs already uploaded and completes.
//
// When the content tag already holds an image with the same config (hence the same layers), nothing
// is uploaded at all: only the mutable tags move, manifest only. The content-tag check and moving
// the tags are HTTP requests on one connection (http.ts); skopeo runs only to upload an image the
// registry does not have, and only then is an auth file written for it.
import { readFileSync, symlinkSync } from "node:fs";
import path from "node:path";
import { InputError, OperationError, type Diagnostic } from "../diagnostics.ts";
import { estimateCompressedLayerSizes, layerTopPaths, openArchive, type DockerArchive } from "../image/archive.ts";
import { childEnv, type Secret } from "../secret.ts";
import { contentTagFor } from "./content-tag.ts";
import { formatBytes, MB, shortDigest } from "./format.ts";
import { repositoryName } from "./http.ts";
import { fetchManifest, getRawManifest, putManifest, type RawManifest } from "./manifest.ts";
import { checkMutableTag, imageRef, repositoryFor } from "./reference.ts";
import { withRegistry, type RegistryOptions } from "./session.ts";

export const DEFAULT_PUSH_TAGS = ["testing"];

// Moving a tag is one small request, bounded by manifest.ts's TAG_TIMEOUT_MS; the upload from the
// archive itself is not time-bounded (Ctrl-C stops it).

export interface PushOptions extends Omit<RegistryOptions, "secret"> {
  /** The registry password, or a function reading it: called only once the archive passed its checks. */
  secret: Secret | (() => Promise<Secret>);
  /** Image name under the registry namespace: the service name. */
  service: string;
  /** A docker-archive (tar or tar.gz) or an executable image stream script. */
  archive: string;
  /** Mutable tags to point at the image (default ["testing"]). Content tags are refused. */
  tags?: string[];
  /** Refuse images whose compressed size is over this many MB (service.imageSizeBudgetMB). */
  sizeBudgetMB?: number;
  /** Where the budget is set (service.yaml position), so the refusal reads like a compiler error. */
  budgetAt?: { file: string; line: number; col: number };
  /** How to name the archive in messages (default: "--archive <path>"). */
  archiveLabel?: string;
}

export interface PushResult {
  /** Full reference with the content tag: `<registry>/<service>:c-...` (what deploy passes as `image`). */
  image: string;
  repository: string;
  /** Manifest digest (what deploy passes as `imageDigest` / registrySha256). */
  digest: string;
  configDigest: string;
  contentTag: string;
  /** The mutable tags now pointing at `digest`. */
  tags: string[];
  /** False when the content tag already held this image: no blob was uploaded. */
  uploaded: boolean;
}

/** Refuses images Scaleway cannot run: only linux/amd64. */
export function checkPlatform(archive: DockerArchive, label: string): void {
  const arch = archive.architecture;
  const os = archive.os || "linux";
  if (arch === "amd64" && os === "linux") return;
  const found = arch ? `${os}/${arch}${archive.config.variant ? `/${archive.config.variant}` : ""}` : "no architecture";
  throw new InputError(
    `${label}: the image is for ${found}, but Scaleway Serverless Containers run linux/amd64 (x86_64) only: ` +
      `build it for x86_64-linux (nix build .#packages.x86_64-linux.<image>; from an arm64 machine use an x86_64-linux remote builder)`,
  );
}

/** The refusal message for an image over budget, or undefined when it fits. */
export async function budgetProblem(archive: DockerArchive, budgetMB: number): Promise<string | undefined> {
  // Compression never grows a layer by more than gzip's framing and a few bytes per 16 KB block:
  // when even the uncompressed image fits, skip compressing it.
  const bound = archive.layers.reduce((n, l) => n + (l.compressed ? l.size : l.size * 1.001 + 1024), 0);
  if (bound <= budgetMB * MB) return undefined;
  const sizes = await estimateCompressedLayerSizes(archive);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total <= budgetMB * MB) return undefined;
  const largest = sizes
    .map((size, index) => ({ size, index }))
    .sort((a, b) => b.size - a.size || a.index - b.index)
    .slice(0, 3);
  const parts: string[] = [];
  for (const { size, index } of largest) {
    const l = archive.layers[index];
    const paths = await layerTopPaths(archive, index);
    parts.push(`layer ${index + 1} of ${archive.layers.length} (${shortDigest(l.diffId ?? l.path)}) ${formatBytes(size)}${paths.length ? `: ${paths.join(", ")}` : ""}`);
  }
  return (
    `image is about ${formatBytes(total)} compressed, over imageSizeBudgetMB ${budgetMB} (${formatBytes(budgetMB * MB)}); ` +
    `largest layers: ${parts.join("; ")}. Slim the image (fewer or smaller packages) or raise imageSizeBudgetMB; bigger images start slower`
  );
}

export async function pushImage(opts: PushOptions): Promise<PushResult> {
  const tags = [...new Set(opts.tags?.length ? opts.tags : DEFAULT_PUSH_TAGS)].map((t) => checkMutableTag(t, "--tag"));
  const label = opts.archiveLabel ?? `--archive ${opts.archive}`;
  const log = opts.log ?? (() => {});
  // The stream script is the user's build output: it gets no secret either.
  const opened = await openArchive(opts.archive, { env: opts.env ?? childEnv(undefined), signal: opts.signal, label });
  try {
    const { archive } = opened;
    checkPlatform(archive, label);
    if (opts.sizeBudgetMB !== undefined) {
      const problem = await budgetProblem(archive, opts.sizeBudgetMB);
      if (problem) {
        if (!opts.budgetAt) throw new InputError(problem);
        const d: Diagnostic = { ...opts.budgetAt, severity: "error", message: problem };
        throw new InputError([d]);
      }
    }
    const repository = repositoryFor(opts.registry, opts.service);
    const contentTag = contentTagFor(archive.configDigest);
    const image = imageRef(repository, contentTag);

    const secret = typeof opts.secret === "function" ? await opts.secret() : opts.secret;
    return await withRegistry({ ...opts, secret }, true, async (session) => {
      const { http, host } = session;
      const name = repositoryName(repository, host);
      const existing = await fetchManifest(http, repository, name, contentTag);
      let manifest: RawManifest;
      let uploaded: boolean;
      if (existing) {
        if (existing.configDigest !== archive.configDigest) {
          throw new OperationError(
            `${image} already holds a different image (config ${existing.configDigest}, this archive's is ${archive.configDigest}); ` +
              `content tags are never overwritten: delete that tag in the registry if it was pushed by hand`,
          );
        }
        manifest = existing.raw;
        uploaded = false;
        log(`${image} already holds this image (${shortDigest(manifest.digest)}): no blob uploaded`);
      } else {
        log(`pushing ${archive.layers.length} layers (${formatBytes(archive.size)} uncompressed) to ${image}`);
        // skopeo (and its auth file) only now: a push of an image the registry already has never starts it.
        const { copyArgs, skopeo } = await import("./skopeo.ts");
        const ctx = await session.skopeo();
        const digestFile = path.join(ctx.auth.tmpDir, "digest");
        await skopeo(ctx, {
          args: copyArgs(ctx, { archive: safeArchivePath(archive.file, ctx.auth.tmpDir) }, image, { digestFile }),
          host,
          what: `push ${image}`,
        });
        const digest = readFileSync(digestFile, "utf8").trim();
        // The exact bytes skopeo stored, by digest (checked), to PUT under the mutable tags.
        const stored = await getRawManifest(http, repository, name, digest);
        if (!stored) throw new OperationError(`push: ${image} was pushed as ${digest}, but the registry does not have that manifest; run it again`);
        manifest = stored;
        uploaded = true;
      }
      for (const tag of tags) {
        await putManifest(http, repository, name, tag, manifest);
        log(`${imageRef(repository, tag)} -> ${shortDigest(manifest.digest)}`);
      }
      return { image, repository, digest: manifest.digest, configDigest: archive.configDigest, contentTag, tags, uploaded };
    });
  } finally {
    opened.dispose();
  }
}

/**
 * skopeo parses `docker-archive:PATH[:REF]`, so a path with a colon would be cut: hand it a symlink
 * without one (in the private temp dir) instead.
 */
function safeArchivePath(file: string, tmpDir: string): string {
  const abs = path.resolve(file);
  if (!abs.includes(":")) return abs;
  const link = path.join(tmpDir, "archive.tar");
  symlinkSync(abs, link);
  return link;
}
