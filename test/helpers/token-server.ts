// A token server for the distribution token authentication spec, in front of which Debian's
// docker-registry runs with `auth: token` (startRegistry({ tokenAuth })): what Scaleway's
// rg.*.scw.cloud does. The registry answers 401 `Bearer realm="<this server>",service=...,scope=...`;
// clients GET <realm>?service=...&scope=repository:NAME:pull,push with basic credentials and get a
// JWT (ES256, signed by a key whose self-signed certificate is the registry's rootcertbundle and is
// sent in the x5c header) granting the actions that password may do. The registry itself verifies
// the signature, issuer, audience, expiry and actions: nothing here is trusted by the client.
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { makeCertificate } from "./registry.ts";

export interface TokenRequest {
  /** The basic credentials' user, or undefined when none were sent. */
  user: string | undefined;
  /** Whether the password was one the server knows. */
  authenticated: boolean;
  account: string | null;
  service: string | null;
  /** Who asked: skopeo (containers/...) or nixway. */
  userAgent: string | undefined;
  scopes: string[];
  /** What the token grants, `repository:NAME:a,b` each. */
  granted: string[];
  status: number;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the server's TLS certificate: put it into the registry's cert dir as a *.crt so clients trust the realm. */
  tlsCa: string;
  /** The `tokenAuth` option of startRegistry. */
  registryAuth: { realm: string; service: string; issuer: string; rootCertBundle: string };
  requests: TokenRequest[];
  /** Which field carries the token: `token` (the spec), `access_token` (its OAuth 2 alias) or both. */
  answerWith: "token" | "access_token" | "both";
  close(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last <= first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(",").filter(Boolean) };
}

/**
 * `passwords`: each password user nologin may present, and the repository actions it is granted
 * (e.g. { secret: ["pull", "push"], readOnly: ["pull"] }). Anything else is refused with 401.
 */
export async function startTokenServer(passwords: Record<string, string[]>, opts: { expiresIn?: number } = {}): Promise<TokenServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nixway-token-server-"));
  const tls = makeCertificate(dir);
  // A separate signing key and certificate, as real token services have (not the TLS one).
  const signingDir = path.join(dir, "signing");
  mkdirSync(signingDir);
  const signing = makeCertificate(signingDir);
  const key: KeyObject = createPrivateKey(readFileSync(signing.keyFile));
  const x5c = [new X509Certificate(readFileSync(signing.certFile)).raw.toString("base64")];
  const service = "nixway-test-registry";
  const issuer = "nixway-test-token-issuer";
  const requests: TokenRequest[] = [];
  const sockets = new Set<net.Socket>();

  const server = https.createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const auth = req.headers.authorization ?? "";
    let user: string | undefined;
    let password: string | undefined;
    if (auth.startsWith("Basic ")) {
      const decoded = Buffer.from(auth.slice(6), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      user = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    const allowed = user === "nologin" && password !== undefined && Object.hasOwn(passwords, password) ? passwords[password] : undefined;
    const scopes = url.searchParams.getAll("scope");
    const record: TokenRequest = {
      user,
      authenticated: allowed !== undefined,
      account: url.searchParams.get("account"),
      service: url.searchParams.get("service"),
      userAgent: req.headers["user-agent"],
      scopes,
      granted: [],
      status: 200,
    };
    requests.push(record);
    if (url.pathname !== "/token") {
      record.status = 404;
      res.writeHead(404).end();
      return;
    }
    if (user !== undefined && allowed === undefined) {
      record.status = 401;
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }
    // Anonymous requests get a token that grants nothing, as public token services do.
    const access: { type: string; name: string; actions: string[] }[] = [];
    for (const s of scopes.flatMap((v) => v.split(" "))) {
      const p = parseScope(s);
      if (!p || p.type !== "repository") continue;
      const actions = p.actions.filter((a) => allowed?.includes(a));
      if (!actions.length) continue;
      access.push({ type: p.type, name: p.name, actions });
      record.granted.push(`${p.type}:${p.name}:${actions.join(",")}`);
    }
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = opts.expiresIn ?? 300;
    const header = { typ: "JWT", alg: "ES256", x5c };
    const claims = { iss: issuer, sub: user ?? "", aud: url.searchParams.get("service") ?? service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomBytes(12).toString("hex"), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    const token = `${input}.${b64url(signature)}`;
    const field = handle.answerWith;
    const body: Record<string, unknown> = { expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() };
    if (field === "token" || field === "both") body.token = token;
    if (field === "access_token" || field === "both") body.access_token = token;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("tlsClientError", () => {
    /* a client that does not trust the certificate is the test's finding, not the server's problem */
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const realm = `https://127.0.0.1:${port}/token`;
  const handle: TokenServer = {
    realm,
    service,
    issuer,
    tlsCa: tls.ca,
    registryAuth: { realm, service, issuer, rootCertBundle: signing.certFile },
    requests,
    answerWith: "token",
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
