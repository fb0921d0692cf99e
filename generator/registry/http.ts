// nixway's own client for the registry HTTP API (the OCI distribution spec), for everything that
// is manifests only: reading what a tag points at, reading an image config, and PUTting a manifest
// under another tag (promote, moving mutable tags after a push). skopeo stays for blob uploads.
// One process, one keep-alive connection: a promote is a few small requests on it instead of four
// skopeo processes.
//
// Authentication as registries ask for it: a request goes out, and on 401 the WWW-Authenticate
// challenge says how to retry:
// - `Basic`: user nologin, password the API secret (Debian's registry with htpasswd);
// - `Bearer realm=...,service=...,scope=...` (the distribution token spec; Scaleway's rg.*.scw.cloud):
//   GET a token from the realm with those credentials, cache it per scope, send it as Bearer.
// Once the scheme is known, later requests carry the credentials at once. The secret stays in
// this process's memory: never on an argv, in a file, or in a message (messages are redacted).
//
// Failures are RegistryErrors like skopeo's (errors.ts), and 429, 5xx, dropped connections and
// timeouts are retried with the same bounded backoff (retry.ts).
import { createHash } from "node:crypto";
import http, { STATUS_CODES, type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { Secret } from "../secret.ts";
import { explain, gaveUp, RegistryError, type RegistryErrorKind } from "./errors.ts";
import { backoffDelay, sleep, type RetryPolicy } from "./retry.ts";
import { defaultCertDir, readCertDir, tlsOptions, type CertDirContents } from "./tls-trust.ts";

/** The registry user name; the password is the API secret key. */
const USER = "nologin";
const USER_AGENT = "nixway (node)";
/** Most a response body may be: manifests are at most 4 MB (OCI distribution spec), configs are small. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const DEFAULT_TIMEOUT_MS = 120_000;

export interface RegistryHttpOptions {
  /** HOST[:PORT] of the registry. */
  host: string;
  secret: Secret;
  /** false: do not verify certificates, and fall back to plain HTTP when HTTPS fails (skopeo's --tls-verify=false). */
  tlsVerify: boolean;
  /** --cert-dir: CA certificates *.crt (and client certificates) for the registry. */
  certDir?: string;
  retry: RetryPolicy;
  signal?: AbortSignal;
  log: (line: string) => void;
  /**
   * The access every token is asked for: "pull,push" when the operation writes (promote, push), so that
   * its reads and its write share one token; "pull" for read-only operations.
   */
  actions: "pull" | "pull,push";
  /** Where HOME and SSL_CERT_FILE are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface RegistryCall {
  method: "GET" | "HEAD" | "PUT";
  /** The repository's name under the host, e.g. `ns/hello` (also the token scope's name). */
  name: string;
  /** After /v2/<name>/, e.g. `manifests/testing` or `blobs/sha256:...`. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** For messages: what is being done, e.g. "read the manifest of HOST/ns/hello:testing". */
  what: string;
  timeoutMs?: number;
}

export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Challenge = { scheme: "basic" } | { scheme: "bearer"; realm: string; service?: string; scope?: string; error?: string };

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** A network failure, with whether it happened on a keep-alive connection reused from an earlier request. */
interface NetworkFailure extends Error {
  code?: string;
  reusedSocket?: boolean;
  timedOutAfterMs?: number;
}

const UNTRUSTED_CERT = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
]);

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** `HOST/ns/hello` -> `ns/hello`: the name in /v2/<name>/... */
export function repositoryName(repository: string, host: string): string {
  if (!repository.startsWith(`${host}/`)) throw new Error(`repositoryName: ${repository} is not under ${host}`);
  return repository.slice(host.length + 1);
}

/** Splits WWW-Authenticate values into challenges: `Basic realm="x"`, `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenges(values: string[]): { scheme: string; params: Record<string, string> }[] {
  const out: { scheme: string; params: Record<string, string> }[] = [];
  for (const value of values) {
    const re = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*,?/y;
    let current: { scheme: string; params: Record<string, string> } | undefined;
    let m: RegExpExecArray | null;
    while (re.lastIndex < value.length && (m = re.exec(value))) {
      if (m[2] === undefined) {
        // A bare token starts a new challenge (its parameters follow, separated by a space).
        current = { scheme: m[1].toLowerCase(), params: {} };
        out.push(current);
        continue;
      }
      if (!current) break;
      const raw = m[2];
      current.params[m[1].toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    }
  }
  return out;
}

function pickChallenge(headers: IncomingHttpHeaders, distinct: Record<string, string[]> | undefined): Challenge | undefined {
  const values = distinct?.["www-authenticate"] ?? (headers["www-authenticate"] ? [String(headers["www-authenticate"])] : []);
  // The first scheme nixway speaks wins, as in containers/image.
  for (const c of parseChallenges(values)) {
    if (c.scheme === "basic") return { scheme: "basic" };
    if (c.scheme === "bearer" && c.params.realm) return { scheme: "bearer", realm: c.params.realm, service: c.params.service, scope: c.params.scope, error: c.params.error };
  }
  return undefined;
}

/** `429 Too Many Requests (toomanyrequests: too many requests)`: the status and the registry's error codes. */
export function statusDetail(res: RegistryResponse): string {
  let summary = "";
  const type = String(res.headers["content-type"] ?? "");
  if (res.body.length && res.body.length < 64 * 1024 && /json/i.test(type)) {
    try {
      const parsed = JSON.parse(res.body.toString("utf8")) as { errors?: { code?: string; message?: string }[] };
      summary = (parsed.errors ?? [])
        .map((e) => [e.code?.toLowerCase(), e.message].filter(Boolean).join(": "))
        .filter(Boolean)
        .join("; ");
    } catch {
      /* not the registry's JSON error: the status says enough */
    }
  }
  const text = `${res.status} ${STATUS_CODES[res.status] ?? "HTTP error"}`;
  return summary ? `${text} (${summary.slice(0, 300)})` : text;
}

function retryAfterMs(res: RegistryResponse): number | undefined {
  const v = res.headers["retry-after"];
  if (typeof v !== "string" || v === "") return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Kind and wording of a network failure (no HTTP answer at all). */
function networkProblem(err: NetworkFailure): { kind: RegistryErrorKind; detail: string } {
  const code = err.code ?? "";
  const msg = err.message;
  if (err.timedOutAfterMs !== undefined) return { kind: "transient", detail: `no answer within ${Math.round(err.timedOutAfterMs / 1000)} s (timeout)` };
  if (code === "ECONNREFUSED") return { kind: "unreachable", detail: `connection refused (${msg})` };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { kind: "unreachable", detail: `no such host (${msg})` };
  if (code === "ENETUNREACH" || code === "EHOSTUNREACH") return { kind: "unreachable", detail: `no route to the registry (${msg})` };
  if (UNTRUSTED_CERT.has(code)) return { kind: "tls", detail: `certificate not trusted: ${msg} (${code})` };
  if (/CERT|^ERR_TLS_|^ERR_SSL_|^EPROTO$/.test(code)) return { kind: "tls", detail: `${tlsReason(msg)} (${code})` };
  if (["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT", "ERR_STREAM_PREMATURE_CLOSE"].includes(code) || /socket hang up/i.test(msg)) {
    return { kind: "transient", detail: `connection dropped (${msg}${code && !msg.includes(code) ? `, ${code}` : ""})` };
  }
  return { kind: "failed", detail: `${msg}${code ? ` (${code})` : ""}` };
}

/** Whether token scope `ours` (`repository:NAME:pull,push`) already asks for everything `theirs` (space-separated scopes) does. */
function covers(ours: string, theirs: string): boolean {
  const split = (scope: string) => {
    const i = scope.lastIndexOf(":");
    return { resource: scope.slice(0, i), actions: new Set(scope.slice(i + 1).split(",")) };
  };
  const mine = split(ours);
  return theirs.split(" ").every((t) => {
    const want = split(t);
    return want.resource === mine.resource && [...want.actions].every((a) => mine.actions.has(a));
  });
}

/** Node's TLS errors carry OpenSSL's whole error line; keep its reason ("wrong version number"). */
function tlsReason(msg: string): string {
  const reason = /SSL routines:[^:]*:([^:]+):/.exec(msg)?.[1];
  return reason ? `TLS handshake failed: ${reason}${/wrong version number|packet length too long|http request/i.test(reason) ? "; the server may speak plain HTTP" : ""}` : msg.replace(/\s+/g, " ").trim();
}

/** The TLS handshake got something that is not TLS: a plain-HTTP server. */
function speaksPlainHttp(err: NetworkFailure): boolean {
  return /^(EPROTO|ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|ERR_SSL_HTTP_REQUEST)$/.test(err.code ?? "") && /wrong version number|packet length too long|http request/i.test(err.message);
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || (err as NetworkFailure).code === "ABORT_ERR");
}

export class RegistryHttp {
  readonly host: string;
  readonly #o: RegistryHttpOptions;
  #scheme: "https" | "http" = "https";
  /** Whether the scheme is settled (a first answer came back); until then tls-verify=false may fall back to http. */
  #schemeKnown = false;
  #fullTrust = false;
  #certDir: CertDirContents | undefined;
  readonly #agents: { http?: http.Agent; https?: https.Agent } = {};
  #challenge: Challenge | undefined;
  readonly #tokens = new Map<string, CachedToken>();

  constructor(opts: RegistryHttpOptions) {
    this.#o = opts;
    this.host = opts.host;
    const dir = opts.certDir ?? defaultCertDir(opts.host, opts.env);
    this.#certDir = dir ? readCertDir(dir) : undefined;
  }

  /** Closes the keep-alive connection(s). */
  close(): void {
    this.#agents.http?.destroy();
    this.#agents.https?.destroy();
    delete this.#agents.http;
    delete this.#agents.https;
  }

  /**
   * Sends `call` (authenticating as the registry asks, following redirects of GET/HEAD), retrying
   * 429, 5xx, dropped connections and timeouts. Returns any other answer (2xx, 404...) for the caller
   * to read; throws RegistryError for 401/403 and for failures that outlast the retries.
   */
  async send(call: RegistryCall): Promise<RegistryResponse> {
    const { attempts } = this.#o.retry;
    const started = Date.now();
    let last: RegistryError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let delayAtLeast = 0;
      try {
        const res = await this.#exchange(call);
        if (res.status !== 429 && res.status < 500) return res;
        last = this.#error("transient", call.what, statusDetail(res));
        delayAtLeast = retryAfterMs(res) ?? 0;
      } catch (err) {
        if (!(err instanceof RegistryError)) throw err;
        last = err;
      }
      if (last.kind !== "transient" || attempt === attempts) break;
      const delay = Math.min(this.#o.retry.maxDelayMs, Math.max(backoffDelay(this.#o.retry, attempt), delayAtLeast));
      this.#o.log(`registry ${this.host}: ${last.detail}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${attempts})`);
      await sleep(delay, this.#o.signal);
    }
    if (last!.kind === "transient" && attempts > 1) throw gaveUp(last!, attempts, started, this.host);
    throw last!;
  }

  /** An error for the user: explained, redacted. */
  #error(kind: RegistryErrorKind, what: string, detail: string): RegistryError {
    const redacted = this.#o.secret.redact(detail);
    return new RegistryError(kind, this.#o.secret.redact(explain(kind, this.host, what, redacted, "nixway")), redacted);
  }

  #origin(): string {
    return `${this.#scheme}://${this.host}`;
  }

  /** One attempt: authentication round trips and redirects included, no retry of transient failures. */
  async #exchange(call: RegistryCall): Promise<RegistryResponse> {
    let url = new URL(`${this.#origin()}/v2/${call.name}/${call.path}`);
    let redirects = 0;
    let refusals = 0;
    let extraScope: string | undefined;
    for (;;) {
      const sameOrigin = url.origin === this.#origin();
      const headers: Record<string, string> = { ...call.headers };
      // Credentials only ever go to the registry itself, never to where it redirects (object storage).
      const authorization = sameOrigin ? await this.#authorization(call, extraScope) : undefined;
      if (authorization) headers.authorization = authorization;
      const res = await this.#request(call.method, url, headers, call.body, call.timeoutMs, call.what);
      if (res.status === 401 && sameOrigin) {
        const challenge = pickChallenge(res.headers, res.distinct);
        if (!challenge) throw this.#error("unauthorized", call.what, statusDetail(res));
        if (authorization) {
          refusals++;
          // Basic credentials refused are wrong; a refused token may be stale or too narrow: one fresh try.
          if (challenge.scheme === "basic" || refusals > 1) {
            const kind = challenge.scheme === "bearer" && challenge.error === "insufficient_scope" ? "denied" : "unauthorized";
            throw this.#error(kind, call.what, statusDetail(res));
          }
          this.#tokens.delete(this.#scopeFor(call));
        }
        this.#challenge = challenge;
        if (challenge.scheme === "bearer" && challenge.scope && !covers(this.#scopeFor(call), challenge.scope)) extraScope = challenge.scope;
        continue;
      }
      if (res.status === 403 && sameOrigin) throw this.#error("denied", call.what, statusDetail(res));
      const location = res.headers.location;
      if ((call.method === "GET" || call.method === "HEAD") && [301, 302, 303, 307, 308].includes(res.status) && location) {
        if (++redirects > MAX_REDIRECTS) throw this.#error("failed", call.what, `more than ${MAX_REDIRECTS} redirects`);
        url = new URL(location, url);
        continue;
      }
      return res;
    }
  }

  #scopeFor(call: RegistryCall): string {
    return `repository:${call.name}:${call.method === "PUT" ? "pull,push" : this.#o.actions}`;
  }

  /** The Authorization header for `call` under the challenge seen so far (none before the first 401). */
  async #authorization(call: RegistryCall, extraScope: string | undefined): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") return `Basic ${Buffer.from(`${USER}:${this.#o.secret.reveal()}`).toString("base64")}`;
    const scope = this.#scopeFor(call);
    const cached = this.#tokens.get(scope);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const token = await this.#fetchToken(challenge, extraScope ? [scope, extraScope] : [scope], call.what);
    this.#tokens.set(scope, token);
    return `Bearer ${token.token}`;
  }

  /** GET realm?account=nologin&service=...&scope=... with basic credentials (distribution token spec). */
  async #fetchToken(challenge: Extract<Challenge, { scheme: "bearer" }>, scopes: string[], what: string): Promise<CachedToken> {
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch {
      throw this.#error("failed", what, `the registry's token realm ${JSON.stringify(challenge.realm)} is not a URL`);
    }
    // The password goes over HTTPS only, unless the registry itself is plain HTTP (--tls-verify=false).
    if (realm.protocol !== "https:" && !(realm.protocol === "http:" && this.#scheme === "http")) {
      throw this.#error("failed", what, `the registry's token realm ${realm.origin} is not HTTPS; nixway does not send the API secret there`);
    }
    realm.searchParams.append("account", USER);
    if (challenge.service) realm.searchParams.append("service", challenge.service);
    for (const s of scopes) realm.searchParams.append("scope", s);
    const basic = `Basic ${Buffer.from(`${USER}:${this.#o.secret.reveal()}`).toString("base64")}`;
    const tokenWhat = `get an access token from ${realm.host} to ${what}`;
    const res = await this.#request("GET", realm, { authorization: basic }, undefined, undefined, tokenWhat);
    if (res.status === 401) throw this.#error("unauthorized", tokenWhat, statusDetail(res));
    if (res.status === 403) throw this.#error("denied", tokenWhat, statusDetail(res));
    if (res.status === 429 || res.status >= 500) throw this.#error("transient", tokenWhat, statusDetail(res));
    if (res.status !== 200) throw this.#error("failed", tokenWhat, statusDetail(res));
    let answer: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      answer = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw this.#error("failed", tokenWhat, "the token server's answer is not JSON");
    }
    // The spec's `token`; `access_token` is its OAuth 2 compatible alias.
    const token = typeof answer.token === "string" && answer.token ? answer.token : typeof answer.access_token === "string" ? answer.access_token : "";
    if (!token) throw this.#error("failed", tokenWhat, "the token server's answer has neither token nor access_token");
    // expires_in defaults to 60 s; leave a margin for the clock and the request's flight.
    const seconds = typeof answer.expires_in === "number" && answer.expires_in > 0 ? answer.expires_in : 60;
    return { token, expiresAt: Date.now() + Math.max(1, seconds - 5) * 1000 };
  }

  /** One keep-alive agent per protocol (the token realm may be elsewhere); the https one rebuilt when the trust store widens. */
  #agentFor(protocol: string): http.Agent {
    if (protocol === "http:") return (this.#agents.http ??= new http.Agent({ keepAlive: true }));
    return (this.#agents.https ??= new https.Agent({
      keepAlive: true,
      ...tlsOptions({ tlsVerify: this.#o.tlsVerify, certDir: this.#certDir, full: this.#fullTrust, env: this.#o.env }),
    }));
  }

  /**
   * One HTTP request, the whole answer read. Network failures become RegistryErrors, after the two
   * retries that are not the retry policy's business: a keep-alive connection the server closed
   * meanwhile (tried again at once on a new one, as browsers and Go do), and the first contact failing
   * for a reason the next scheme or trust store fixes (tls-verify=false: plain HTTP; a certificate
   * the fast trust store does not know: the full one, tls-trust.ts).
   */
  async #request(method: string, url: URL, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number | undefined, what: string): Promise<RegistryResponse & { distinct?: Record<string, string[]> }> {
    for (let reconnects = 0; ; reconnects++) {
      try {
        const res = await this.#requestOnce(method, url, headers, body, timeoutMs ?? DEFAULT_TIMEOUT_MS);
        if (url.origin === this.#origin()) this.#schemeKnown = true;
        return res;
      } catch (err) {
        if (isAbort(err)) throw err;
        const failure = err as NetworkFailure;
        const isRegistry = url.origin === this.#origin();
        if (failure.reusedSocket && reconnects === 0 && failure.timedOutAfterMs === undefined) continue;
        if (isRegistry && !this.#schemeKnown && !this.#o.tlsVerify && this.#scheme === "https" && speaksPlainHttp(failure)) {
          // skopeo with --tls-verify=false also tries plain HTTP when HTTPS does not work. Only when the
          // answer was not TLS at all: an HTTPS registry answers plain HTTP with a 400, not a registry answer.
          this.#scheme = "http";
          const retryUrl = new URL(url.href.replace(/^https:/, "http:"));
          try {
            return await this.#request(method, retryUrl, headers, body, timeoutMs, what);
          } catch (httpErr) {
            this.#scheme = "https";
            if (!(httpErr instanceof RegistryError)) throw httpErr;
            // Report the HTTPS failure: that is what the user asked for first.
          }
        }
        if (url.protocol === "https:" && UNTRUSTED_CERT.has(failure.code ?? "") && this.#o.tlsVerify && !this.#fullTrust) {
          this.#fullTrust = true;
          this.#agents.https?.destroy();
          delete this.#agents.https;
          continue;
        }
        const { kind, detail } = networkProblem(failure);
        throw this.#error(kind, what, detail);
      }
    }
  }

  #requestOnce(method: string, url: URL, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number): Promise<RegistryResponse & { distinct?: Record<string, string[]> }> {
    return new Promise((resolve, reject) => {
      const req = (url.protocol === "http:" ? http : https).request(
        url,
        {
          method,
          agent: this.#agentFor(url.protocol),
          signal: this.#o.signal,
          headers: {
            "user-agent": USER_AGENT,
            "docker-distribution-api-version": "registry/2.0",
            ...headers,
            ...(body ? { "content-length": String(body.length) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy(Object.assign(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`), { code: "ETOOBIG" }));
              return;
            }
            chunks.push(chunk);
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, distinct: res.headersDistinct as Record<string, string[]>, body: Buffer.concat(chunks) }));
          res.on("error", (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error("timeout"), { timedOutAfterMs: timeoutMs })));
      req.on("error", (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      req.end(body);
    });
  }
}
