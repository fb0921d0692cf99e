// The Scaleway names the ContainerService component gives its resources. Kept apart from the
// component (no Pulumi import) so the emitter, status and diagnose can compute them cheaply:
// they find a deployed container by these names.
import { createHash } from "node:crypto";

/** Scaleway's rule for container names (v1 API), assumed for namespaces too: 2–34 characters. */
export const MAX_SCALEWAY_NAME = 34;

/**
 * The container namespace of one service in one stack, e.g. "hello-production". Every stack of
 * every service shares one Scaleway project and region, and namespace names are unique there,
 * so the stack is part of the name. A name over the limit is cut and made unique again with a
 * short hash of the full name.
 */
export function namespaceNameFor(service: string, stack: string): string {
  const full = `${service}-${stack}`;
  if (full.length <= MAX_SCALEWAY_NAME) return full;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 6);
  const head = full.slice(0, MAX_SCALEWAY_NAME - hash.length - 1).replace(/-+$/, "");
  return `${head}-${hash}`;
}

/** The container inside its namespace: the service name (names are unique per namespace). */
export function containerNameFor(service: string): string {
  return service;
}

/** The keep-warm cron trigger of a container. */
export const KEEP_WARM_TRIGGER_NAME = "keep-warm";
