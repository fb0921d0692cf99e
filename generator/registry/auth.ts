// Registry credentials for skopeo without ever putting them on an argv (the runbook's
// `--dest-creds nologin:$SECRET` shows the secret to every user of the machine through
// /proc/*/cmdline and `ps`): a containers-auth.json file, mode 0600, in a private 0700
// directory that is removed when the operation ends, and on exit, SIGINT or SIGTERM.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Secret } from "../secret.ts";
import { makePrivateDir } from "./cleanup.ts";
import { registryHost } from "./reference.ts";

/** The Scaleway registry's user name; the password is the API secret key. */
export const REGISTRY_USER = "nologin";

export interface RegistryAuth {
  /** The registry host the file holds credentials for. */
  host: string;
  /** Path of the containers-auth.json file (for skopeo --authfile). The path is not secret, its content is. */
  authFile: string;
  /** A private directory next to it for skopeo's temporary files (skopeo --tmpdir). */
  tmpDir: string;
  /** For redacting the secret from anything a child prints. */
  secret: Secret;
}

/** An auth file that exists until dispose() (or until nixway exits or is interrupted). */
export interface OpenRegistryAuth extends RegistryAuth {
  dispose(): void;
}

/** Writes the auth file for `registry` (HOST[:PORT] or HOST[:PORT]/NAMESPACE) holding `nologin` / `secret`. */
export function openRegistryAuth(registry: string, secret: Secret): OpenRegistryAuth {
  const { dir, dispose } = makePrivateDir("nixway-auth-");
  try {
    const host = registryHost(registry);
    const authFile = path.join(dir, "auth.json");
    const auth = Buffer.from(`${REGISTRY_USER}:${secret.reveal()}`).toString("base64");
    // "wx": never follow or reuse something already there; 0600 from creation, not chmod'ed afterwards.
    writeFileSync(authFile, JSON.stringify({ auths: { [host]: { auth } } }) + "\n", { mode: 0o600, flag: "wx" });
    const tmpDir = path.join(dir, "tmp");
    mkdirSync(tmpDir, { mode: 0o700 });
    return { host, authFile, tmpDir, secret, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

/**
 * Runs `fn` with an auth file for `registry` (HOST[:PORT] or HOST[:PORT]/NAMESPACE) holding
 * `nologin` / `secret`. The file and its directory are gone when the returned promise settles.
 */
export async function withRegistryAuth<T>(registry: string, secret: Secret, fn: (auth: RegistryAuth) => Promise<T>): Promise<T> {
  const { dispose, ...auth } = openRegistryAuth(registry, secret);
  try {
    return await fn(auth);
  } finally {
    dispose();
  }
}
