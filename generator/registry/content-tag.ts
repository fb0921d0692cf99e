// The immutable, content-addressed tag every push adds besides the mutable ones (testing, production...).
// It is derived from the image config digest: the config names every layer by its uncompressed digest
// (rootfs.diff_ids), so equal configs mean equal images, and the digest is known from the archive
// before anything is uploaded. That is what lets a re-push ask the registry "do you already have it?"
// and skip every blob upload.

const CONFIG_DIGEST = /^sha256:([0-9a-f]{64})$/;

/** Hex characters of the config digest kept in the tag: 80 bits, unique across any realistic registry. */
export const CONTENT_TAG_HEX = 20;

/** Matches tags made by contentTagFor: `c-` then exactly CONTENT_TAG_HEX lowercase hex digits. */
export const CONTENT_TAG_PATTERN = /^c-[0-9a-f]{20}$/;

/** `sha256:0123abcd...` (64 hex) -> `c-0123abcd...` (20 hex). Throws on anything else: a bug, not input. */
export function contentTagFor(configDigest: string): string {
  const m = CONFIG_DIGEST.exec(configDigest);
  if (!m) throw new Error(`contentTagFor: expected a config digest sha256:<64 hex>, got ${JSON.stringify(configDigest)}`);
  return `c-${m[1].slice(0, CONTENT_TAG_HEX)}`;
}

/** True for tags nixway reserves for content addressing (users may not push or promote to them by hand). */
export function isContentTag(tag: string): boolean {
  return CONTENT_TAG_PATTERN.test(tag);
}
