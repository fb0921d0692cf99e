// Which TLS certificates nixway's registry client trusts, the same as skopeo (containers/image)
// does for the same flags, so that a registry skopeo can push to is one nixway can tag on:
// - --tls-verify=false: no verification (and plain HTTP is tried when HTTPS fails: http.ts);
// - --cert-dir DIR, else the first existing one of ~/.config/containers/certs.d/HOST,
//   /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST: every DIR/*.crt is a CA trusted in
//   addition to the system's roots, and DIR/NAME.cert with DIR/NAME.key is a client certificate;
// - the system's roots: the OS bundle Go reads (SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt,
//   ...), plus the roots Node ships and NODE_EXTRA_CA_CERTS.
//
// Parsing ~150 root certificates costs ~20 ms per TLS context, more than a whole promote on a near
// registry. So the first connection is made with the cheapest store that can be right (DIR's CAs
// alone when DIR has any, else Node's built-in roots, whose store is built lazily), and only when
// the server's certificate is not trusted by it is the full union loaded and the connection tried
// again (`full`). Anything the fast store accepts the union accepts too, so the outcome is the
// union's: what skopeo accepts.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { rootCertificates } from "node:tls";
import { UsageError } from "../diagnostics.ts";

/** Go's crypto/x509 certificate bundle locations on Linux (root_linux.go), first found wins. */
const SYSTEM_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/pki/tls/cacert.pem",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
  "/etc/ssl/cert.pem",
];

/** What node:https needs (Agent options). */
export interface TlsOptions {
  rejectUnauthorized: boolean;
  ca?: string[];
  cert?: string[];
  key?: string[];
}

export interface CertDirContents {
  dir: string;
  /** PEM text of each *.crt, sorted by file name. */
  cas: string[];
  /** Client certificate pairs NAME.cert + NAME.key. */
  certs: string[];
  keys: string[];
}

/** The per-host certificate directory skopeo would use for `host` when no --cert-dir is given, if any exists. */
export function defaultCertDir(host: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const home = env.HOME || os.homedir();
  for (const base of [path.join(home, ".config", "containers", "certs.d"), "/etc/containers/certs.d", "/etc/docker/certs.d"]) {
    const dir = path.join(base, host);
    try {
      if (statSync(dir).isDirectory()) return dir;
    } catch {
      /* absent or unreadable: next one, as containers/image does */
    }
  }
  return undefined;
}

/** Reads DIR the way containers/image's tlsclientconfig.SetupCertificates does. */
export function readCertDir(dir: string): CertDirContents {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return { dir, cas: [], certs: [], keys: [] };
  }
  const out: CertDirContents = { dir, cas: [], certs: [], keys: [] };
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.endsWith(".crt")) {
      try {
        out.cas.push(readFileSync(file, "utf8"));
      } catch {
        /* a dangling symlink: skopeo warns and goes on */
      }
    } else if (name.endsWith(".cert")) {
      const key = `${name.slice(0, -".cert".length)}.key`;
      if (!names.includes(key)) {
        throw new UsageError(`${file}: client certificate without its key ${key} (CA certificates must be named *.crt)`);
      }
      out.certs.push(readFileSync(file, "utf8"));
      out.keys.push(readFileSync(path.join(dir, key), "utf8"));
    } else if (name.endsWith(".key") && !names.includes(`${name.slice(0, -".key".length)}.cert`)) {
      throw new UsageError(`${file}: key without its client certificate ${name.slice(0, -".key".length)}.cert`);
    }
  }
  return out;
}

/** The OS's root certificates (PEM text), as Go finds them; undefined when there is no such file (macOS, Windows). */
function systemRoots(env: NodeJS.ProcessEnv): string | undefined {
  for (const file of [env.SSL_CERT_FILE, ...SYSTEM_BUNDLES]) {
    if (file && existsSync(file)) {
      try {
        return readFileSync(file, "utf8");
      } catch {
        /* unreadable: try the next */
      }
    }
  }
  return undefined;
}

/**
 * Agent TLS options for a registry. `full` = the whole union (system bundle, Node's roots,
 * NODE_EXTRA_CA_CERTS, the cert dir's CAs); otherwise the fast store described above.
 */
export function tlsOptions(opts: { tlsVerify: boolean; certDir: CertDirContents | undefined; full: boolean; env?: NodeJS.ProcessEnv }): TlsOptions {
  const client = opts.certDir?.certs.length ? { cert: opts.certDir.certs, key: opts.certDir.keys } : {};
  if (!opts.tlsVerify) return { rejectUnauthorized: false, ...client };
  const dirCas = opts.certDir?.cas ?? [];
  if (!opts.full) return dirCas.length ? { rejectUnauthorized: true, ca: dirCas, ...client } : { rejectUnauthorized: true, ...client };
  const env = opts.env ?? process.env;
  const ca = [...rootCertificates];
  const system = systemRoots(env);
  if (system) ca.push(system);
  if (env.NODE_EXTRA_CA_CERTS) {
    try {
      ca.push(readFileSync(env.NODE_EXTRA_CA_CERTS, "utf8"));
    } catch {
      /* Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS */
    }
  }
  return { rejectUnauthorized: true, ca: [...ca, ...dirCas], ...client };
}
