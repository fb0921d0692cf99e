// How a registry operation fails, for both ways nixway talks to a registry (skopeo for blob uploads,
// its own HTTP client for manifests): one error class whose kind says what happened and whose
// message says what to do, and the "gave up after N attempts" wrapper for retried failures.
import { OperationError } from "../diagnostics.ts";

export type RegistryErrorKind =
  | "unauthorized" // wrong or revoked secret
  | "denied" // authenticated, but not allowed (namespace missing, key without registry rights)
  | "not-found" // no such tag or repository
  | "unreachable" // connection refused, unknown host
  | "tls" // certificate not trusted
  | "transient" // 429, 5xx, dropped connection, timeout: worth retrying
  | "failed"; // anything else

export class RegistryError extends OperationError {
  readonly kind: RegistryErrorKind;
  /** The underlying message (skopeo's, or the HTTP status / network error), redacted. */
  readonly detail: string;
  constructor(kind: RegistryErrorKind, message: string, detail: string) {
    super(message);
    this.name = "RegistryError";
    this.kind = kind;
    this.detail = detail;
  }
}

const TRANSIENT = [
  /\b(?:429|Too Many Requests|toomanyrequests)\b/i,
  /\b50[0-4]\b|Internal Server Error|Bad Gateway|Service Unavailable|\bunavailable\b|Gateway Time-?out/i,
  /\bEOF\b|connection reset|broken pipe|use of closed network connection|server closed|i\/o timeout|TLS handshake timeout|timeout awaiting response|context deadline exceeded|http2: .*(?:GOAWAY|stream error)/i,
];

/** The kind of a failure from its message text (skopeo's stderr: Go's errors). */
export function classify(detail: string): RegistryErrorKind {
  if (/\bunauthorized\b|authentication required|invalid username\/password|incorrect username or password/i.test(detail)) return "unauthorized";
  if (/\bdenied\b|\b403\b|forbidden/i.test(detail)) return "denied";
  if (/connection refused|no such host|server misbehaving|network is unreachable|no route to host/i.test(detail)) return "unreachable";
  if (/x509:|certificate|tls: /i.test(detail) && !/TLS handshake timeout/i.test(detail)) return "tls";
  if (/manifest unknown|name unknown|not found|\b404\b|repository name not known/i.test(detail)) return "not-found";
  if (TRANSIENT.some((re) => re.test(detail))) return "transient";
  return "failed";
}

/** What the user should read for each kind of failure: the cause and what to do. */
export function explain(kind: RegistryErrorKind, host: string, what: string, detail: string, tool = "skopeo"): string {
  switch (kind) {
    case "unauthorized":
      return (
        `registry ${host} rejected the credentials (unauthorized) while trying to ${what}: check the Scaleway API secret ` +
        `(the registry password of user nologin; SCW_SECRET_KEY or apiSecret in nixway.yaml) and regenerate it in the Scaleway console if it was revoked`
      );
    case "denied":
      return `registry ${host} denied access while trying to ${what} (${detail}): check that the registry namespace exists and that the API key may push to it`;
    case "unreachable":
      return `cannot reach registry ${host} to ${what} (${detail}): check the registry address (nixway.yaml registry/registryNamespace or --registry) and the network; is the registry up?`;
    case "tls":
      return `TLS with registry ${host} failed while trying to ${what} (${detail}): for a registry with a private CA pass --cert-dir DIR holding its ca.crt; for a local test registry --tls-verify=false`;
    case "not-found":
      return `${what}: not found in registry ${host} (${detail})`;
    case "transient":
      return `registry ${host} failed while trying to ${what} (${detail})`;
    default:
      return `${tool} failed to ${what}: ${detail}`;
  }
}

/** The error for a transient failure that outlasted every attempt of the retry policy. */
export function gaveUp(last: RegistryError, attempts: number, startedMs: number, host: string): RegistryError {
  const secs = ((Date.now() - startedMs) / 1000).toFixed(1);
  return new RegistryError(
    "transient",
    `${last.message}; gave up after ${attempts} attempts over ${secs} s. The registry is overloaded or failing: try again later` +
      (host.endsWith(".scw.cloud") ? " and check https://status.scaleway.com" : ""),
    last.detail,
  );
}
