// The options every registry operation takes, and the skopeo context built from them: one auth
// file per operation unless the caller holds one open (withRegistryAuth) for several calls.
import type { Secret } from "../secret.ts";
import { childEnv } from "../secret.ts";
import { withRegistryAuth, type RegistryAuth } from "./auth.ts";
import { registryHost } from "./reference.ts";
import { retryPolicy, type RetryPolicy } from "./retry.ts";
import type { SkopeoContext } from "./skopeo.ts";

export interface RegistryOptions {
  /** HOST[:PORT]/NAMESPACE, e.g. rg.fr-par.scw.cloud/sanmarcsoft (Repo.config.registry). */
  registry: string;
  /** The Scaleway API secret key: the password of user nologin. */
  secret: Secret;
  /** Verify the registry's TLS certificate (default true); false for a local plain-HTTP or self-signed registry. */
  tlsVerify?: boolean;
  /** Directory with the registry's CA certificate(s) as *.crt (skopeo --cert-dir). */
  certDir?: string;
  /** Retries of 429/5xx/dropped connections; default 4 attempts, 1 s doubling to 8 s. */
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
  /** Progress and retry notes (one line each, no newline); default: silent. */
  log?: (line: string) => void;
  /** The environment skopeo runs with; default: this process's, minus the secret's variables. */
  env?: NodeJS.ProcessEnv;
  /** An auth file already written by withRegistryAuth, to share across several calls. */
  auth?: RegistryAuth;
}

/** Runs `fn` with a skopeo context for `opts`, writing (and afterwards removing) an auth file if none was given. */
export async function withSkopeo<T>(opts: RegistryOptions, fn: (ctx: SkopeoContext, host: string) => Promise<T>): Promise<T> {
  const host = registryHost(opts.registry);
  const make = (auth: RegistryAuth): SkopeoContext => ({
    auth,
    tlsVerify: opts.tlsVerify ?? true,
    certDir: opts.certDir,
    env: opts.env ?? childEnv(undefined),
    retry: retryPolicy(opts.retry),
    signal: opts.signal,
    log: opts.log ?? (() => {}),
  });
  if (opts.auth) {
    if (opts.auth.host !== host) throw new Error(`withSkopeo: the auth file is for ${opts.auth.host}, not ${host}`);
    return fn(make(opts.auth), host);
  }
  return withRegistryAuth(opts.registry, opts.secret, (auth) => fn(make(auth), host));
}
