// `nixway promote`: point one tag at the image another tag points at (testing -> production),
// registry side, manifest only. skopeo copies `repo@<digest>` to `repo:<to>` with
// --preserve-digests: every blob is already in the repository, so skopeo only checks them (HEAD)
// and PUTs the same manifest bytes under the new tag; no layer moves and the digest is unchanged.
import { OperationError } from "../diagnostics.ts";
import { fetchManifest } from "./manifest.ts";
import { TAG_TIMEOUT_MS } from "./push.ts";
import { imageRef, repositoryFor } from "./reference.ts";
import { withSkopeo, type RegistryOptions } from "./session.ts";
import { copyArgs, RegistryError, skopeo } from "./skopeo.ts";

export interface PromoteResult {
  repository: string;
  from: string;
  to: string;
  /** The digest `to` points at now (= the digest of `from`). */
  digest: string;
  /** What `to` pointed at before, or undefined when it did not exist. */
  previousDigest: string | undefined;
  /** False when `to` already pointed at that digest (nothing was written). */
  changed: boolean;
}

export async function promoteTag(opts: RegistryOptions, service: string, from: string, to: string): Promise<PromoteResult> {
  const repository = repositoryFor(opts.registry, service);
  return withSkopeo(opts, async (ctx, host) => {
    const source = await fetchManifest(ctx, host, repository, from);
    if (!source) {
      throw new RegistryError(
        "not-found",
        `cannot promote: ${imageRef(repository, from)} does not exist in registry ${host}; push it first (nixway push ${service} --archive PATH --tag ${from}) or pick an existing tag (nixway tags ${service})`,
        "manifest unknown",
      );
    }
    const previous = await fetchManifest(ctx, host, repository, to);
    const result = { repository, from, to, digest: source.digest, previousDigest: previous?.digest };
    if (previous?.digest === source.digest) return { ...result, changed: false };
    ctx.log(`${imageRef(repository, to)}: ${previous ? previous.digest : "(new tag)"} -> ${source.digest}`);
    await skopeo(ctx, {
      args: copyArgs(ctx, { ref: imageRef(repository, source.digest) }, imageRef(repository, to), {}),
      host,
      what: `tag ${imageRef(repository, to)}`,
      timeoutMs: TAG_TIMEOUT_MS,
    });
    const now = await fetchManifest(ctx, host, repository, to);
    if (now?.digest !== source.digest) {
      throw new OperationError(`promote: ${imageRef(repository, to)} points at ${now?.digest ?? "nothing"} after the copy, not ${source.digest}; run it again`);
    }
    return { ...result, changed: true };
  });
}
