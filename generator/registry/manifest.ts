// Reading what a registry holds under a tag or digest: the manifest (digest, config digest, layers
// with their compressed sizes) and the image config, through `skopeo inspect --raw`, which prints
// the stored bytes unchanged, so their sha256 is the manifest digest.
import { createHash } from "node:crypto";
import type { ImageConfig } from "../image/archive.ts";
import { imageRef } from "./reference.ts";
import { inspectRawArgs, RegistryError, skopeo, type SkopeoContext } from "./skopeo.ts";

const LIST_TYPES = new Set([
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
]);

export interface ManifestLayer {
  digest: string;
  /** Compressed size in the registry, bytes. */
  size: number;
  mediaType: string;
}

export interface RegistryManifest {
  /** sha256 of the manifest bytes: what a tag points at, what Scaleway's registrySha256 wants. */
  digest: string;
  mediaType: string;
  configDigest: string;
  layers: ManifestLayer[];
}

/** Per-call bound for reads: a registry that accepts the connection and never answers must not hang nixway. */
const READ_TIMEOUT_MS = 120_000;

function sha256(text: string): string {
  return `sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`;
}

/**
 * The manifest `repository:tagOrDigest` points at, or undefined when there is no such tag (or
 * repository). A multi-architecture index resolves to its linux/amd64 image, the one Scaleway runs.
 */
export async function fetchManifest(ctx: SkopeoContext, host: string, repository: string, tagOrDigest: string): Promise<RegistryManifest | undefined> {
  const ref = imageRef(repository, tagOrDigest);
  let raw: string;
  try {
    raw = (await skopeo(ctx, { args: inspectRawArgs(ctx, ref, false), host, what: `read the manifest of ${ref}`, timeoutMs: READ_TIMEOUT_MS })).stdout;
  } catch (err) {
    if (err instanceof RegistryError && err.kind === "not-found") return undefined;
    throw err;
  }
  let m: { mediaType?: string; schemaVersion?: number; config?: { digest?: string }; layers?: ManifestLayer[]; manifests?: { digest: string; platform?: { architecture?: string; os?: string } }[] };
  try {
    m = JSON.parse(raw);
  } catch {
    throw new RegistryError("failed", `registry ${host} returned a manifest for ${ref} that is not JSON`, "");
  }
  const mediaType = m.mediaType ?? "";
  if (LIST_TYPES.has(mediaType) || Array.isArray(m.manifests)) {
    const amd64 = m.manifests?.find((e) => e.platform?.architecture === "amd64" && (e.platform?.os ?? "linux") === "linux");
    if (!amd64) {
      throw new RegistryError("failed", `${ref} is a multi-architecture index without a linux/amd64 image (Scaleway runs amd64)`, "");
    }
    return fetchManifest(ctx, host, repository, amd64.digest);
  }
  if (m.schemaVersion !== 2 || typeof m.config?.digest !== "string" || !Array.isArray(m.layers)) {
    throw new RegistryError("failed", `${ref} has a manifest nixway does not read (schema ${m.schemaVersion ?? "?"}, ${mediaType || "no media type"})`, "");
  }
  return {
    digest: sha256(raw),
    mediaType,
    configDigest: m.config.digest,
    layers: m.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
  };
}

/** The image config of `repository@digest` (pinned by digest: a tag moving meanwhile cannot mix two images). */
export async function fetchConfig(ctx: SkopeoContext, host: string, repository: string, digest: string): Promise<ImageConfig> {
  const ref = imageRef(repository, digest);
  const raw = (await skopeo(ctx, { args: inspectRawArgs(ctx, ref, true), host, what: `read the image config of ${ref}`, timeoutMs: READ_TIMEOUT_MS })).stdout;
  try {
    return JSON.parse(raw) as ImageConfig;
  } catch {
    throw new RegistryError("failed", `registry ${host} returned an image config for ${ref} that is not JSON`, "");
  }
}
