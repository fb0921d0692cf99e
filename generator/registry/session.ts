// The options every registry operation takes, and what an operation talks to the registry with:
// nixway's HTTP client for manifests (one keep-alive connection, credentials in memory), and skopeo
// for blob uploads, whose auth file is written only when skopeo is actually needed and removed when
// the operation ends (a promote or a no-op push never writes one).
import type { Secret } from "../secret.ts";
import { childEnv } from "../secret.ts";
import type { OpenRegistryAuth, RegistryAuth } from "./auth.ts";
import { RegistryHttp } from "./http.ts";
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

export interface RegistrySession {
  /** HOST[:PORT] */
  host: string;
  /** Manifests, configs, tags: in-process HTTP. */
  http: RegistryHttp;
  /** A skopeo context (auth file written on the first call), for blob uploads. */
  skopeo(): Promise<SkopeoContext>;
}

function skopeoContext(opts: RegistryOptions, auth: RegistryAuth): SkopeoContext {
  return {
    auth,
    tlsVerify: opts.tlsVerify ?? true,
    certDir: opts.certDir,
    env: opts.env ?? childEnv(undefined),
    retry: retryPolicy(opts.retry),
    signal: opts.signal,
    log: opts.log ?? (() => {}),
  };
}

/**
 * Runs `fn` with a session for `opts`. `writes`: the operation moves tags (promote, push), so its
 * token is asked for pull and push at once. The connection is closed and any auth file removed
 * when `fn` settles.
 */
export async function withRegistry<T>(opts: RegistryOptions, writes: boolean, fn: (session: RegistrySession) => Promise<T>): Promise<T> {
  const host = registryHost(opts.registry);
  if (opts.auth && opts.auth.host !== host) throw new Error(`withRegistry: the auth file is for ${opts.auth.host}, not ${host}`);
  const http = new RegistryHttp({
    host,
    secret: opts.secret,
    tlsVerify: opts.tlsVerify ?? true,
    certDir: opts.certDir,
    retry: retryPolicy(opts.retry),
    signal: opts.signal,
    log: opts.log ?? (() => {}),
    actions: writes ? "pull,push" : "pull",
    env: opts.env,
  });
  let opened: OpenRegistryAuth | undefined;
  let ctx: SkopeoContext | undefined;
  try {
    return await fn({
      host,
      http,
      async skopeo() {
        if (!ctx) {
          if (opts.auth) ctx = skopeoContext(opts, opts.auth);
          else {
            // Loaded here, not at the top: the manifest-only operations never need an auth file.
            const { openRegistryAuth } = await import("./auth.ts");
            opened ??= openRegistryAuth(opts.registry, opts.secret);
            ctx = skopeoContext(opts, opened);
          }
        }
        return ctx;
      },
    });
  } finally {
    http.close();
    opened?.dispose();
  }
}

/** Runs `fn` with a skopeo context for `opts`, writing (and afterwards removing) an auth file if none was given. */
export async function withSkopeo<T>(opts: RegistryOptions, fn: (ctx: SkopeoContext, host: string) => Promise<T>): Promise<T> {
  const host = registryHost(opts.registry);
  if (opts.auth) {
    if (opts.auth.host !== host) throw new Error(`withSkopeo: the auth file is for ${opts.auth.host}, not ${host}`);
    return fn(skopeoContext(opts, opts.auth), host);
  }
  const { withRegistryAuth } = await import("./auth.ts");
  return withRegistryAuth(opts.registry, opts.secret, (auth) => fn(skopeoContext(opts, auth), host));
}
