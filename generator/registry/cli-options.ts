// Flags shared by `nixway push|tags|inspect|promote`, and turning them plus the repository's
// settings into RegistryOptions (registry, TLS, the secret, a stderr logger).
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import type { CommandIo } from "../command.ts";
import { UsageError } from "../diagnostics.ts";
import type { RepoConfig } from "../model.ts";
import { childEnv, resolveApiSecret, type Secret } from "../secret.ts";
import { checkRegistry } from "./reference.ts";
import type { RegistryOptions } from "./session.ts";

export const REGISTRY_FLAGS = {
  registry: { type: "string" },
  "cert-dir": { type: "string" },
  root: { type: "string" },
} as const;

export const REGISTRY_FLAGS_HELP = `  --registry HOST/NAMESPACE  registry prefix (default: nixway.yaml registry, or rg.<region>.scw.cloud/<registryNamespace>)
  --tls-verify=false         do not verify the registry's TLS certificate, or use plain HTTP (local test registries only)
  --cert-dir DIR             trust the CA certificate(s) DIR/*.crt for the registry besides the system's (e.g. a
                             self-signed test registry); default: ~/.config/containers/certs.d/HOST, /etc/containers/
                             certs.d/HOST or /etc/docker/certs.d/HOST, as skopeo
  --root DIR                 repository root (default: nearest ancestor with nixway.yaml or services/)`;

export const SECRET_HELP = `Credentials: user nologin, password the Scaleway API secret key, from SCW_SECRET_KEY or the
apiSecret setting of nixway.yaml. nixway sends it to the registry itself over HTTPS (basic or
token auth, as the registry asks); only when skopeo uploads blobs is it handed to skopeo, in a
0600 auth file inside a private temp directory that is removed afterwards (also on Ctrl-C).
It is never on a command line.`;

/**
 * node:util parseArgs has no `--flag=false` for booleans (before Node 22): take `--tls-verify`,
 * `--tls-verify=true|false` out of argv first.
 */
export function takeTlsVerify(command: string, argv: string[]): { argv: string[]; tlsVerify: boolean } {
  let tlsVerify = true;
  const rest: string[] = [];
  for (const a of argv) {
    if (a === "--") {
      rest.push(...argv.slice(argv.indexOf(a)));
      break;
    }
    const m = /^--tls-verify(?:=(.*))?$/.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    if (m[1] === undefined || m[1] === "true") tlsVerify = true;
    else if (m[1] === "false") tlsVerify = false;
    else throw new UsageError(`${command}: --tls-verify takes true or false, not '${m[1]}'`);
  }
  return { argv: rest, tlsVerify };
}

export interface RegistryFlagValues {
  registry?: string;
  "cert-dir"?: string;
}

/**
 * Registry options from the flags and nixway.yaml. The secret is read last (it may run
 * apiSecret.command, e.g. pass and a GPG prompt); `lazySecret` leaves that to the caller, so push
 * can refuse a bad archive before asking for it.
 */
export async function registryOptionsFrom(
  command: string,
  values: RegistryFlagValues,
  tlsVerify: boolean,
  config: RepoConfig,
  root: string,
  io: CommandIo,
): Promise<RegistryOptions> {
  const { secret, ...rest } = lazyRegistryOptionsFrom(command, values, tlsVerify, config, root, io);
  return { ...rest, secret: await secret() };
}

export function lazyRegistryOptionsFrom(
  command: string,
  values: RegistryFlagValues,
  tlsVerify: boolean,
  config: RepoConfig,
  root: string,
  io: CommandIo,
): Omit<RegistryOptions, "secret"> & { secret: () => Promise<Secret> } {
  const registry = values.registry !== undefined ? checkRegistry(values.registry) : config.registry;
  if (!registry) {
    throw new UsageError(`${command}: no registry: set registryNamespace (or registry) in nixway.yaml, or pass --registry HOST/NAMESPACE`);
  }
  const certDir = values["cert-dir"] === undefined ? undefined : path.resolve(values["cert-dir"]);
  if (certDir !== undefined && !(existsSync(certDir) && statSync(certDir).isDirectory())) {
    throw new UsageError(`${command}: --cert-dir ${values["cert-dir"]}: no such directory`);
  }
  return {
    registry,
    secret: () => resolveApiSecret(config, { cwd: root }),
    tlsVerify,
    certDir,
    env: childEnv(config),
    log: (line) => io.stderr.write(`${command}: ${line}\n`),
  };
}
