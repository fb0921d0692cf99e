// Names on the registry side: the registry prefix HOST[:PORT]/NAMESPACE (nixway.yaml `registry`, or
// rg.<region>.scw.cloud/<registryNamespace>), an image repository `<registry>/<service>`, tags.
import { UsageError } from "../diagnostics.ts";
import { CONTENT_TAG_PATTERN } from "./content-tag.ts";

/** Same rule as nixway.schema.json `registry`. */
const REGISTRY = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?\/[a-z0-9]([-a-z0-9._/]*[a-z0-9])?$/;
/** The distribution spec's tag grammar. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Checks a registry prefix given on the command line; returns it unchanged. */
export function checkRegistry(registry: string, flag = "--registry"): string {
  if (!REGISTRY.test(registry)) {
    throw new UsageError(
      `${flag} ${JSON.stringify(registry)} is not HOST[:PORT]/NAMESPACE (lowercase), e.g. rg.fr-par.scw.cloud/sanmarcsoft or 127.0.0.1:5000/test`,
    );
  }
  return registry;
}

/** `rg.fr-par.scw.cloud/sanmarcsoft` -> `rg.fr-par.scw.cloud` (the key of the auth file). */
export function registryHost(registry: string): string {
  const slash = registry.indexOf("/");
  return slash < 0 ? registry : registry.slice(0, slash);
}

/** Where a service's images live: `<registry>/<service>`. */
export function repositoryFor(registry: string, service: string): string {
  return `${registry}/${service}`;
}

export function isTag(s: string): boolean {
  return TAG.test(s);
}

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

/** A tag a user may move (push --tag, promote --to): valid, and not a reserved content tag. */
export function checkMutableTag(tag: string, flag: string): string {
  if (!TAG.test(tag)) {
    throw new UsageError(`${flag} ${JSON.stringify(tag)} is not a valid tag: 1-128 characters of A-Z a-z 0-9 _ . -, not starting with . or -`);
  }
  if (CONTENT_TAG_PATTERN.test(tag)) {
    throw new UsageError(`${flag} ${tag}: tags of the form c-<20 hex> are content tags nixway sets itself and never moves`);
  }
  return tag;
}

/** `repo:tag` or `repo@sha256:...` for a tag or a digest. */
export function imageRef(repository: string, tagOrDigest: string): string {
  return isDigest(tagOrDigest) ? `${repository}@${tagOrDigest}` : `${repository}:${tagOrDigest}`;
}
