// Manifests and image configs over the registry's HTTP API (http.ts). A manifest is kept as the
// exact bytes the registry stored, with their media type: its digest is the sha256 of those bytes,
// and writing it under another tag means PUTting the same bytes with the same Content-Type, so the
// tag points at the same digest (re-serialising the JSON would make another one).
import type { ImageConfig } from "../image/archive.ts";
import { RegistryError } from "./errors.ts";
import { sha256Digest, statusDetail, type RegistryHttp } from "./http.ts";
import { imageRef, isDigest } from "./reference.ts";

export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

const MANIFEST_TYPES = [DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX];
const LIST_TYPES = new Set([DOCKER_MANIFEST_LIST, OCI_INDEX]);

/** Per-call bound: a registry that accepts the connection and never answers must not hang nixway. */
export const READ_TIMEOUT_MS = 120_000;
/** Moving a tag is one small PUT. */
export const TAG_TIMEOUT_MS = 120_000;

export interface ManifestLayer {
  digest: string;
  /** Compressed size in the registry, bytes. */
  size: number;
  mediaType: string;
}

/** A manifest exactly as the registry stores it. */
export interface RawManifest {
  /** sha256 of `bytes`. */
  digest: string;
  /** The media type it is stored under: the Content-Type to PUT it back with. */
  mediaType: string;
  bytes: Buffer;
}

export interface RegistryManifest {
  /** sha256 of the manifest bytes: what a tag points at, what Scaleway's registrySha256 wants. */
  digest: string;
  mediaType: string;
  configDigest: string;
  layers: ManifestLayer[];
  /** The bytes themselves, to write under another tag. */
  raw: RawManifest;
}

/** `application/vnd.oci.image.manifest.v1+json; charset=utf-8` -> the media type alone. */
function essence(contentType: string | undefined): string {
  return (contentType ?? "").split(";", 1)[0].trim().toLowerCase();
}

/**
 * The manifest `repository:tagOrDigest` points at, as stored (an index stays an index), or undefined
 * when there is no such tag or repository.
 */
export async function getRawManifest(http: RegistryHttp, repository: string, name: string, tagOrDigest: string): Promise<RawManifest | undefined> {
  const ref = imageRef(repository, tagOrDigest);
  const res = await http.send({
    method: "GET",
    name,
    path: `manifests/${tagOrDigest}`,
    headers: { accept: MANIFEST_TYPES.join(", ") },
    what: `read the manifest of ${ref}`,
    timeoutMs: READ_TIMEOUT_MS,
  });
  if (res.status === 404) return undefined;
  if (res.status !== 200) {
    throw new RegistryError("failed", `registry ${http.host} answered ${statusDetail(res)} to reading the manifest of ${ref}`, statusDetail(res));
  }
  const digest = sha256Digest(res.body);
  if (isDigest(tagOrDigest) && digest !== tagOrDigest) {
    throw new RegistryError("failed", `registry ${http.host} returned a manifest for ${ref} whose sha256 is ${digest}: not the bytes asked for`, "digest mismatch");
  }
  let mediaType = essence(res.headers["content-type"] as string | undefined);
  if (!MANIFEST_TYPES.includes(mediaType)) {
    // Some registries and proxies answer application/json: the manifest's own mediaType field says what it is.
    let field: unknown;
    try {
      field = (JSON.parse(res.body.toString("utf8")) as { mediaType?: unknown }).mediaType;
    } catch {
      throw new RegistryError("failed", `registry ${http.host} returned a manifest for ${ref} that is not JSON`, "");
    }
    if (typeof field !== "string" || !MANIFEST_TYPES.includes(field)) {
      throw new RegistryError("failed", `${ref} has a manifest nixway does not read (${mediaType || "no media type"}): push it again with nixway push`, "");
    }
    mediaType = field;
  }
  return { digest, mediaType, bytes: res.body };
}

/**
 * The image manifest `repository:tagOrDigest` points at, or undefined when there is no such tag (or
 * repository). A multi-architecture index resolves to its linux/amd64 image, the one Scaleway runs
 * (as the runbook's `skopeo copy` picks the image of the machine's platform).
 */
export async function fetchManifest(http: RegistryHttp, repository: string, name: string, tagOrDigest: string): Promise<RegistryManifest | undefined> {
  const raw = await getRawManifest(http, repository, name, tagOrDigest);
  if (!raw) return undefined;
  const ref = imageRef(repository, tagOrDigest);
  let m: { schemaVersion?: number; config?: { digest?: string }; layers?: ManifestLayer[]; manifests?: { digest: string; platform?: { architecture?: string; os?: string } }[] };
  try {
    m = JSON.parse(raw.bytes.toString("utf8"));
  } catch {
    throw new RegistryError("failed", `registry ${http.host} returned a manifest for ${ref} that is not JSON`, "");
  }
  if (LIST_TYPES.has(raw.mediaType)) {
    const amd64 = m.manifests?.find((e) => e.platform?.architecture === "amd64" && (e.platform?.os ?? "linux") === "linux");
    if (!amd64) {
      throw new RegistryError("failed", `${ref} is a multi-architecture index without a linux/amd64 image (Scaleway runs amd64)`, "");
    }
    const child = await fetchManifest(http, repository, name, amd64.digest);
    if (!child) throw new RegistryError("failed", `${ref} is an index whose linux/amd64 image ${amd64.digest} is missing from the registry`, "");
    return child;
  }
  if (m.schemaVersion !== 2 || typeof m.config?.digest !== "string" || !Array.isArray(m.layers)) {
    throw new RegistryError("failed", `${ref} has a manifest nixway does not read (schema ${m.schemaVersion ?? "?"}, ${raw.mediaType})`, "");
  }
  return {
    digest: raw.digest,
    mediaType: raw.mediaType,
    configDigest: m.config.digest,
    layers: m.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    raw,
  };
}

/**
 * Points `repository:tag` at `manifest`: PUT of the same bytes with the same media type. The
 * registry's Docker-Content-Digest answer must be the manifest's digest (else the tag points at
 * something else, and nixway says so); a registry that does not send it is asked with a GET.
 */
export async function putManifest(http: RegistryHttp, repository: string, name: string, tag: string, manifest: RawManifest): Promise<void> {
  const ref = imageRef(repository, tag);
  const what = `tag ${ref}`;
  const res = await http.send({
    method: "PUT",
    name,
    path: `manifests/${tag}`,
    headers: { "content-type": manifest.mediaType },
    body: manifest.bytes,
    what,
    timeoutMs: TAG_TIMEOUT_MS,
  });
  if (res.status < 200 || res.status > 299) {
    throw new RegistryError("failed", `registry ${http.host} refused to ${what} (${statusDetail(res)})`, statusDetail(res));
  }
  const answered = res.headers["docker-content-digest"];
  const digest = typeof answered === "string" && answered ? answered : (await getRawManifest(http, repository, name, tag))?.digest;
  if (digest !== manifest.digest) {
    throw new RegistryError(
      "failed",
      `registry ${http.host} stored ${ref} as ${digest ?? "nothing"}, not ${manifest.digest}: the manifest bytes were changed on the way; run it again, and check for a proxy rewriting requests`,
      "digest mismatch",
    );
  }
}

/** The image config blob `configDigest` of `repository` (its sha256 checked). */
export async function fetchConfig(http: RegistryHttp, repository: string, name: string, configDigest: string): Promise<ImageConfig> {
  const ref = imageRef(repository, configDigest);
  const res = await http.send({ method: "GET", name, path: `blobs/${configDigest}`, what: `read the image config ${ref}`, timeoutMs: READ_TIMEOUT_MS });
  if (res.status === 404) {
    throw new RegistryError("not-found", `registry ${http.host} has no image config ${configDigest} in ${repository}: the image is incomplete; push it again`, "blob unknown");
  }
  if (res.status !== 200) {
    throw new RegistryError("failed", `registry ${http.host} answered ${statusDetail(res)} to reading the image config ${ref}`, statusDetail(res));
  }
  if (sha256Digest(res.body) !== configDigest) {
    throw new RegistryError("failed", `registry ${http.host} returned an image config for ${ref} whose sha256 does not match`, "digest mismatch");
  }
  try {
    return JSON.parse(res.body.toString("utf8")) as ImageConfig;
  } catch {
    throw new RegistryError("failed", `registry ${http.host} returned an image config for ${ref} that is not JSON`, "");
  }
}
