// `nixway promote`: point one tag at the image another tag points at (testing -> production),
// registry side, manifest only: GET the source's manifest, GET what the target points at now, and
// PUT the source's exact bytes under the target tag, all on one HTTP connection. No blob moves (the
// repository already holds every one, and within one repository no blob mount is needed) and the
// digest is unchanged (the registry's Docker-Content-Digest answer is checked).
import { RegistryError } from "./errors.ts";
import { repositoryName } from "./http.ts";
import { fetchManifest, getRawManifest, putManifest, type RegistryManifest } from "./manifest.ts";
import { imageRef, repositoryFor } from "./reference.ts";
import { withRegistry, type RegistryOptions } from "./session.ts";

export interface PromoteResult {
  repository: string;
  from: string;
  to: string;
  /** The digest `to` points at now (= the digest of `from`'s linux/amd64 image). */
  digest: string;
  /** What `to` pointed at before, or undefined when it did not exist. */
  previousDigest: string | undefined;
  /** False when `to` already pointed at that digest (nothing was written). */
  changed: boolean;
}

export async function promoteTag(opts: RegistryOptions, service: string, from: string, to: string): Promise<PromoteResult> {
  const repository = repositoryFor(opts.registry, service);
  return withRegistry(opts, true, async ({ http, host }) => {
    const name = repositoryName(repository, host);
    const source = await fetchManifest(http, repository, name, from);
    if (!source) {
      throw new RegistryError(
        "not-found",
        `cannot promote: ${imageRef(repository, from)} does not exist in registry ${host}; push it first (nixway push ${service} --archive PATH --tag ${from}) or pick an existing tag (nixway tags ${service})`,
        "manifest unknown",
      );
    }
    const previousDigest = await currentDigest(http, repository, name, to);
    const result = { repository, from, to, digest: source.digest, previousDigest };
    if (previousDigest === source.digest) return { ...result, changed: false };
    opts.log?.(`${imageRef(repository, to)}: ${previousDigest ?? "(new tag)"} -> ${source.digest}`);
    await putManifest(http, repository, name, to, source.raw);
    return { ...result, changed: true };
  });
}

/**
 * What `to` points at, compared like the source: an index by its linux/amd64 image. A target that
 * nixway cannot resolve (an index without amd64) does not block the promote that replaces it.
 */
async function currentDigest(http: Parameters<typeof fetchManifest>[0], repository: string, name: string, tag: string): Promise<string | undefined> {
  let resolved: RegistryManifest | undefined;
  try {
    resolved = await fetchManifest(http, repository, name, tag);
  } catch (err) {
    if (!(err instanceof RegistryError) || err.kind !== "failed") throw err;
    return (await getRawManifest(http, repository, name, tag))?.digest;
  }
  return resolved?.digest;
}
