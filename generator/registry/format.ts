// How sizes and digests are shown to people (JSON output keeps the exact numbers).

/** Decimal megabytes, as registries and Scaleway's console show them: 1 MB = 1,000,000 bytes. */
export const MB = 1_000_000;

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < MB) return `${(n / 1000).toFixed(1)} kB`;
  if (n < 1000 * MB) return `${(n / MB).toFixed(1)} MB`;
  return `${(n / (1000 * MB)).toFixed(2)} GB`;
}

/** `sha256:0123456789ab...` -> `sha256:0123456789ab` (12 hex), for tables; full digests go to JSON. */
export function shortDigest(digest: string): string {
  const m = /^(sha256:)([0-9a-f]{12})[0-9a-f]*$/.exec(digest);
  return m ? m[1] + m[2] : digest;
}
