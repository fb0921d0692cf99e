// nixway's in-process registry client (generator/registry/http.ts) against real registries:
// - Bearer token auth: Debian's docker-registry with `auth: token`, verifying JWTs from a token
//   server (test/helpers/token-server.ts), as Scaleway's rg.*.scw.cloud does; skopeo's uploads and
//   nixway's manifest requests both go through it;
// - digest preservation: manifests with unusual bytes, OCI manifests and an OCI index promoted byte
//   for byte, with their media types;
// - promote and a no-op push run no skopeo and upload no blob (PATH without skopeo);
// - TLS as skopeo does it: untrusted certificate, --tls-verify=false (also plain HTTP), the per-host
//   certs.d directory.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, watch, writeFileSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { run } from "../generator/proc.ts";
import { withRegistryAuth } from "../generator/registry/auth.ts";
import { contentTagFor } from "../generator/registry/content-tag.ts";
import { repositoryName } from "../generator/registry/http.ts";
import { inspectImage, pushImage, resolveTagDigest, type RegistryOptions } from "../generator/registry/index.ts";
import { DOCKER_MANIFEST, getRawManifest, OCI_INDEX, OCI_MANIFEST } from "../generator/registry/manifest.ts";
import { withRegistry } from "../generator/registry/session.ts";
import { Secret } from "../generator/secret.ts";
import { buildTestImage, type TestImage } from "./helpers/archive.ts";
import { runCli } from "./helpers/nixway-cli.ts";
import { spawnNixway, startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { startTokenServer, type TokenServer } from "./helpers/token-server.ts";
import { makeRepo, minimalService, removeRepo } from "./helpers/temp-repo.ts";

const PASSWORD = `secret-${randomBytes(12).toString("hex")}`;
const READ_ONLY = `read-only-${randomBytes(12).toString("hex")}`;

let tokens: TokenServer;
let tokenRegistry: TestRegistry;
let basic: TestRegistry;
let root: string;
let work: string;
let savedSecret: string | undefined;
const images: Record<string, TestImage> = {};

before(async () => {
  tokens = await startTokenServer({ [PASSWORD]: ["pull", "push"], [READ_ONLY]: ["pull"] });
  tokenRegistry = await startRegistry({ password: PASSWORD, tokenAuth: tokens.registryAuth });
  // Clients trust the token realm the way they trust the registry: a CA in the cert dir.
  writeFileSync(path.join(tokenRegistry.certDir, "token-server.crt"), tokens.tlsCa);
  basic = await startRegistry({ password: PASSWORD });
  work = mkdtempSync(path.join(os.tmpdir(), "nixway-http-test-"));
  root = await makeRepo({ "nixway.yaml": `registry: ${tokenRegistry.host}/ns\n`, ...minimalService("hello") });
  savedSecret = process.env.SCW_SECRET_KEY;
  process.env.SCW_SECRET_KEY = PASSWORD;
  images.v1 = await buildTestImage({ file: path.join(work, "v1.tar"), seed: "http", appVersion: "1" });
  images.v2 = await buildTestImage({ file: path.join(work, "v2.tar"), seed: "http", appVersion: "2" });
  images.arm = await buildTestImage({ file: path.join(work, "arm.tar"), seed: "http", appVersion: "arm", architecture: "arm64" });
});

after(async () => {
  if (savedSecret === undefined) delete process.env.SCW_SECRET_KEY;
  else process.env.SCW_SECRET_KEY = savedSecret;
  await tokenRegistry?.stop();
  await tokens?.close();
  await basic?.stop();
  if (root) await removeRepo(root);
  if (work) rmSync(work, { recursive: true, force: true });
});

function lib(registry: TestRegistry, namespace: string, password = PASSWORD): RegistryOptions {
  return { registry: `${registry.host}/${namespace}`, secret: new Secret(password), certDir: registry.certDir };
}

/** The token requests nixway made (its user agent) since `mark`. */
function nixwayTokenRequests(mark: number) {
  return tokens.requests.slice(mark).filter((r) => r.userAgent?.startsWith("nixway"));
}

/** A request straight to a test registry with htpasswd auth (the test's own client, not nixway's). */
function rawRequest(registry: TestRegistry, method: string, p: string, opts: { headers?: Record<string, string>; body?: Buffer } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: registry.port,
        method,
        path: p,
        ca: registry.ca,
        headers: { authorization: `Basic ${Buffer.from(`nologin:${registry.password}`).toString("base64")}`, ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

const ACCEPT_ALL = [DOCKER_MANIFEST, OCI_MANIFEST, "application/vnd.docker.distribution.manifest.list.v2+json", OCI_INDEX].join(", ");

async function rawManifest(registry: TestRegistry, name: string, ref: string) {
  const r = await rawRequest(registry, "GET", `/v2/${name}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL } });
  assert.equal(r.status, 200, `GET ${name}:${ref}: ${r.status} ${r.body}`);
  return { bytes: r.body, contentType: String(r.headers["content-type"]), digest: `sha256:${createHash("sha256").update(r.body).digest("hex")}` };
}

async function putRawManifest(registry: TestRegistry, name: string, tag: string, contentType: string, bytes: Buffer): Promise<string> {
  const r = await rawRequest(registry, "PUT", `/v2/${name}/manifests/${tag}`, { headers: { "content-type": contentType }, body: bytes });
  assert.equal(r.status, 201, `PUT ${name}:${tag}: ${r.status} ${r.body}`);
  return String(r.headers["docker-content-digest"]);
}

/** skopeo copy of an archive to a test registry (credentials in an auth file), e.g. as an OCI manifest. */
async function skopeoCopy(registry: TestRegistry, archive: string, ref: string, extra: string[] = []): Promise<void> {
  await withRegistryAuth(registry.host, new Secret(registry.password), async (auth) => {
    const r = await run(["skopeo", "copy", "--quiet", "--authfile", auth.authFile, "--dest-cert-dir", registry.certDir, ...extra, `docker-archive:${archive}`, `docker://${ref}`], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
  });
}

describe("Bearer token auth (the distribution token spec, as rg.*.scw.cloud)", () => {
  const common = () => ["--root", root, "--cert-dir", tokenRegistry.certDir];

  test("push uploads through skopeo; the content-tag check, tags, promote and inspect use one cached token each", async () => {
    let mark = tokens.requests.length;
    const push = await runCli(["push", "hello", "--archive", images.v1.file, "--json", ...common()]);
    assert.equal(push.code, 0, push.stderr);
    const pushed = JSON.parse(push.stdout);
    assert.equal(pushed.uploaded, true);
    const all = tokens.requests.slice(mark);
    assert.ok(all.length >= 2, "skopeo and nixway both asked for tokens");
    for (const r of all) {
      assert.equal(r.user, "nologin");
      assert.equal(r.authenticated, true);
      assert.equal(r.service, tokens.service);
      assert.equal(r.status, 200);
    }
    const ours = nixwayTokenRequests(mark);
    assert.equal(ours.length, 1, JSON.stringify(ours));
    assert.deepEqual(ours[0].scopes, ["repository:ns/hello:pull,push"], "reads and writes share one pull,push token");
    assert.equal(ours[0].account, "nologin");
    assert.equal(await resolveTagDigest(lib(tokenRegistry, "ns"), "hello", "testing"), pushed.digest);

    // A no-op push: nothing uploaded, one token.
    mark = tokens.requests.length;
    let logMark = tokenRegistry.mark();
    const again = await runCli(["push", "hello", "--archive", images.v1.file, "--tag", "testing", "--tag", "staging", "--json", ...common()]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).uploaded, false);
    assert.equal(tokens.requests.length - mark, 1, "only nixway asked: no skopeo ran");
    await tokenRegistry.settle();
    assert.deepEqual(tokenRegistry.uploadsSince(logMark), []);

    // Promote: one token, the source and target manifests read, one PUT, no blob request.
    const v2 = await runCli(["push", "hello", "--archive", images.v2.file, "--json", ...common()]);
    assert.equal(v2.code, 0, v2.stderr);
    mark = tokens.requests.length;
    logMark = tokenRegistry.mark();
    const promote = await runCli(["promote", "hello", "--from", "testing", "--to", "production", "--json", ...common()]);
    assert.equal(promote.code, 0, promote.stderr);
    assert.equal(JSON.parse(promote.stdout).digest, JSON.parse(v2.stdout).digest);
    assert.equal(nixwayTokenRequests(mark).length, 1);
    assert.equal(tokens.requests.length - mark, 1);
    await tokenRegistry.settle();
    const requests = tokenRegistry.requestsSince(logMark).filter((q) => q.status !== 401);
    assert.deepEqual(
      requests.map((q) => `${q.method} ${q.uri} ${q.status}`),
      ["GET /v2/ns/hello/manifests/testing 200", "GET /v2/ns/hello/manifests/production 404", "PUT /v2/ns/hello/manifests/production 201"],
    );
    assert.equal(await resolveTagDigest(lib(tokenRegistry, "ns"), "hello", "production"), JSON.parse(v2.stdout).digest);

    // Inspect: a read-only operation asks for pull only; manifest and config on one token.
    mark = tokens.requests.length;
    const inspect = await runCli(["inspect", "hello:production", "--json", ...common()]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(JSON.parse(inspect.stdout).architecture, "amd64");
    assert.deepEqual(nixwayTokenRequests(mark).map((r) => r.scopes), [["repository:ns/hello:pull"]]);
  });

  test("a token answered as access_token (the OAuth 2 alias) works too", async () => {
    tokens.answerWith = "access_token";
    try {
      const r = await runCli(["promote", "hello", "--from", contentTagFor(images.v1.configDigest), "--to", "production", "--json", ...common()]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).changed, true);
    } finally {
      tokens.answerWith = "token";
    }
    assert.equal(await resolveTagDigest(lib(tokenRegistry, "ns"), "hello", "production"), await resolveTagDigest(lib(tokenRegistry, "ns"), "hello", contentTagFor(images.v1.configDigest)));
  });

  test("a wrong secret is refused by the token server: unauthorized at once, secret not echoed", async () => {
    const wrong = `wrong-${randomBytes(8).toString("hex")}`;
    process.env.SCW_SECRET_KEY = wrong;
    const mark = tokens.requests.length;
    const r = await runCli(["promote", "hello", "--from", "testing", "--to", "production", ...common()]).finally(() => (process.env.SCW_SECRET_KEY = PASSWORD));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /registry 127\.0\.0\.1:\d+ rejected the credentials \(unauthorized\) while trying to get an access token from 127\.0\.0\.1:\d+/);
    assert.match(r.stderr, /check the Scaleway API secret .* regenerate it/);
    assert.doesNotMatch(r.stderr, /retrying/);
    assert.ok(!(r.stdout + r.stderr).includes(wrong));
    assert.ok(!(r.stdout + r.stderr).includes(Buffer.from(`nologin:${wrong}`).toString("base64")));
    assert.deepEqual(
      tokens.requests.slice(mark).map((q) => [q.authenticated, q.status]),
      [[false, 401]],
      "one token request, refused, not retried",
    );
  });

  test("a key that may only pull can inspect but not promote: denied, naming the push right", async () => {
    const opts = lib(tokenRegistry, "ns", READ_ONLY);
    const before = await resolveTagDigest(opts, "hello", "production");
    assert.ok(before, "pull works with the read-only key");
    const info = await inspectImage(opts, "hello", "testing");
    assert.equal(info.architecture, "amd64");
    const { promoteTag } = await import("../generator/registry/promote.ts");
    await assert.rejects(promoteTag(opts, "hello", "testing", "production"), (e: Error) => {
      assert.match(e.message, /denied access while trying to tag .*hello:production .*insufficient|denied access while trying to tag .*hello:production/);
      assert.match(e.message, /API key may push to it/);
      return true;
    });
    assert.equal(await resolveTagDigest(lib(tokenRegistry, "ns"), "hello", "production"), before);
  });
});

describe("digest preservation", () => {
  const repo = () => `${basic.host}/dp/hello`;

  test("unusual manifest bytes are promoted byte for byte, from a tag and from a digest", async () => {
    const pushed = await pushImage({ ...lib(basic, "dp"), service: "hello", archive: images.v1.file });
    const original = await rawManifest(basic, "dp/hello", pushed.digest);
    assert.equal(original.contentType, DOCKER_MANIFEST);
    // Same manifest, other bytes: indented, keys reversed, trailing blank lines. Its digest differs from skopeo's.
    const reorder = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reorder) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorder(x)])) : v;
    const odd = Buffer.from(JSON.stringify(reorder(JSON.parse(original.bytes.toString("utf8"))), null, 7) + "\n\n\n");
    const oddDigest = `sha256:${createHash("sha256").update(odd).digest("hex")}`;
    assert.notEqual(oddDigest, original.digest);
    assert.equal(await putRawManifest(basic, "dp/hello", "odd", DOCKER_MANIFEST, odd), oddDigest);

    const r = await runCli(["promote", "hello", "--from", "odd", "--to", "production", "--json", "--registry", `${basic.host}/dp`, "--root", root, "--cert-dir", basic.certDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).digest, oddDigest);
    const promoted = await rawManifest(basic, "dp/hello", "production");
    assert.ok(promoted.bytes.equals(odd), "the exact bytes");
    assert.equal(promoted.digest, oddDigest);
    assert.equal(promoted.contentType, DOCKER_MANIFEST);

    const byDigest = await runCli(["promote", "hello", "--from", original.digest, "--to", "production", "--json", "--registry", `${basic.host}/dp`, "--root", root, "--cert-dir", basic.certDir]);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    assert.deepEqual(
      { digest: JSON.parse(byDigest.stdout).digest, previous: JSON.parse(byDigest.stdout).previousDigest },
      { digest: original.digest, previous: oddDigest },
    );
    assert.ok((await rawManifest(basic, "dp/hello", "production")).bytes.equals(original.bytes));
  });

  test("an OCI manifest keeps its media type; an OCI index is read as stored and promotes its linux/amd64 image", async () => {
    await skopeoCopy(basic, images.v2.file, `${repo()}:oci`, ["--format", "oci"]);
    await skopeoCopy(basic, images.arm.file, `${repo()}:arm`, ["--format", "oci"]);
    const oci = await rawManifest(basic, "dp/hello", "oci");
    const arm = await rawManifest(basic, "dp/hello", "arm");
    assert.equal(oci.contentType, OCI_MANIFEST);

    const r = await runCli(["promote", "hello", "--from", "oci", "--to", "staging", "--json", "--registry", `${basic.host}/dp`, "--root", root, "--cert-dir", basic.certDir]);
    assert.equal(r.code, 0, r.stderr);
    const staged = await rawManifest(basic, "dp/hello", "staging");
    assert.equal(staged.contentType, OCI_MANIFEST, "PUT with the manifest's own media type");
    assert.ok(staged.bytes.equals(oci.bytes));

    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.bytes.length, platform: { architecture: "arm64", os: "linux" } },
          { mediaType: OCI_MANIFEST, digest: oci.digest, size: oci.bytes.length, platform: { architecture: "amd64", os: "linux" } },
        ],
      }),
    );
    const indexDigest = await putRawManifest(basic, "dp/hello", "multi", OCI_INDEX, index);
    const stored = await withRegistry(lib(basic, "dp"), false, ({ http, host }) => getRawManifest(http, repo(), repositoryName(repo(), host), "multi"));
    assert.deepEqual({ digest: stored?.digest, mediaType: stored?.mediaType }, { digest: indexDigest, mediaType: OCI_INDEX });
    assert.ok(stored?.bytes.equals(index));

    // As the runbook's `skopeo copy docker://...:testing docker://...:production` (the machine's platform
    // only) and as Scaleway runs it: the target points at the linux/amd64 image, bytes unchanged.
    const m = await runCli(["promote", "hello", "--from", "multi", "--to", "multi-promoted", "--json", "--registry", `${basic.host}/dp`, "--root", root, "--cert-dir", basic.certDir]);
    assert.equal(m.code, 0, m.stderr);
    assert.equal(JSON.parse(m.stdout).digest, oci.digest);
    const promoted = await rawManifest(basic, "dp/hello", "multi-promoted");
    assert.ok(promoted.bytes.equals(oci.bytes));
    assert.equal(promoted.contentType, OCI_MANIFEST);
    assert.equal(await resolveTagDigest(lib(basic, "dp"), "hello", "multi"), oci.digest);
  });
});

describe("manifest-only operations run no skopeo and upload nothing", () => {
  test("promote and a no-op push with no skopeo on PATH; a push that must upload then fails for want of it", async () => {
    const opts = lib(basic, "noskopeo");
    const first = await pushImage({ ...opts, service: "hello", archive: images.v1.file });
    await pushImage({ ...opts, service: "hello", archive: images.v2.file, tags: ["testing"] });
    const emptyBin = mkdtempSync(path.join(work, "bin-"));
    const tmp = mkdtempSync(path.join(work, "tmp-"));
    const env: NodeJS.ProcessEnv = { PATH: emptyBin, HOME: process.env.HOME, TMPDIR: tmp, SCW_SECRET_KEY: PASSWORD };
    const args = ["--registry", `${basic.host}/noskopeo`, "--root", root, "--cert-dir", basic.certDir, "--json"];
    // Anything nixway creates in its TMPDIR (an auth file's directory would show here).
    const created: string[] = [];
    const watcher = watch(tmp, (_event, name) => name && !name.startsWith("tsx-") && created.push(name));
    try {
      let mark = basic.mark();
      const promote = await spawnNixway(["promote", "hello", "--from", "testing", "--to", "production", ...args], { env }).done;
      assert.equal(promote.code, 0, promote.stderr);
      assert.equal(JSON.parse(promote.stdout).changed, true);
      await basic.settle();
      const promoteRequests = basic.requestsSince(mark).filter((q) => q.status !== 401);
      assert.deepEqual(promoteRequests.filter((q) => !q.uri.includes("/manifests/")), [], "no blob request at all");
      assert.deepEqual(promoteRequests.filter((q) => q.method === "PUT").map((q) => q.uri), ["/v2/noskopeo/hello/manifests/production"]);

      mark = basic.mark();
      const noop = await spawnNixway(["push", "hello", "--archive", images.v1.file, "--tag", "staging", ...args], { env }).done;
      assert.equal(noop.code, 0, noop.stderr);
      assert.deepEqual({ uploaded: JSON.parse(noop.stdout).uploaded, digest: JSON.parse(noop.stdout).digest }, { uploaded: false, digest: first.digest });
      await basic.settle();
      assert.deepEqual(basic.uploadsSince(mark), []);
      assert.deepEqual(basic.requestsSince(mark).filter((q) => !q.uri.includes("/manifests/")), []);
      assert.deepEqual(created, [], "no auth file was written");

      // The control: an image the registry lacks needs skopeo, and there is none on this PATH.
      const fresh = await buildTestImage({ file: path.join(work, "fresh.tar"), seed: "http-fresh" });
      const upload = await spawnNixway(["push", "hello", "--archive", fresh.file, ...args], { env }).done;
      assert.equal(upload.code, 1);
      assert.match(upload.stderr, /skopeo is not installed or not on PATH/);
    } finally {
      watcher.close();
    }
    assert.deepEqual(readdirSync(tmp).filter((n) => !n.startsWith("tsx-")), []);
  });
});

describe("TLS as skopeo does it", () => {
  test("an untrusted certificate says how to trust it; --tls-verify=false and the per-host certs.d directory work", async () => {
    await pushImage({ ...lib(basic, "tls"), service: "hello", archive: images.v1.file });
    const args = ["promote", "hello", "--from", "testing", "--to", "production", "--registry", `${basic.host}/tls`, "--root", root];
    const untrusted = await runCli(args);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /TLS with registry 127\.0\.0\.1:\d+ failed while trying to read the manifest .*certificate not trusted: .*--cert-dir DIR holding its ca\.crt; for a local test registry --tls-verify=false/);

    const insecure = await runCli([...args, "--tls-verify=false"]);
    assert.equal(insecure.code, 0, insecure.stderr);

    // No --cert-dir: ~/.config/containers/certs.d/HOST:PORT/*.crt, as skopeo reads it.
    const home = mkdtempSync(path.join(work, "home-"));
    const certsD = path.join(home, ".config", "containers", "certs.d", basic.host);
    mkdirSync(certsD, { recursive: true });
    writeFileSync(path.join(certsD, "ca.crt"), basic.ca);
    const viaHome = await spawnNixway([...args, "--json"], { env: { PATH: process.env.PATH, HOME: home, SCW_SECRET_KEY: PASSWORD } }).done;
    assert.equal(viaHome.code, 0, viaHome.stderr);

    // The system's roots (Go's SSL_CERT_FILE, here the registry's CA) are trusted too, also alongside a
    // --cert-dir whose CAs do not cover the registry: the union, as skopeo has it.
    const systemEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SCW_SECRET_KEY: PASSWORD, SSL_CERT_FILE: basic.certFile };
    const viaSystem = await spawnNixway([...args, "--json"], { env: systemEnv }).done;
    assert.equal(viaSystem.code, 0, viaSystem.stderr);
    const otherCa = mkdtempSync(path.join(work, "other-ca-"));
    writeFileSync(path.join(otherCa, "other.crt"), tokens.tlsCa);
    const union = await spawnNixway([...args, "--cert-dir", otherCa, "--json"], { env: systemEnv }).done;
    assert.equal(union.code, 0, union.stderr);
    const otherOnly = await runCli([...args, "--cert-dir", otherCa]);
    assert.equal(otherOnly.code, 1, "the other CA alone does not make the registry trusted");
    assert.match(otherOnly.stderr, /certificate not trusted/);
  });

  test("a plain-HTTP registry: refused with TLS, reached with --tls-verify=false (push through skopeo, tags over HTTP)", async () => {
    const plain = await startRegistry({ plainHttp: true });
    try {
      const args = ["--registry", `${plain.host}/ns`, "--root", root, "--json"];
      const refused = await runCli(["push", "hello", "--archive", images.v1.file, ...args]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /TLS with registry .* --tls-verify=false/);
      const pushed = await runCli(["push", "hello", "--archive", images.v1.file, "--tls-verify=false", ...args]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const promoted = await runCli(["promote", "hello", "--from", "testing", "--to", "production", "--tls-verify=false", ...args]);
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.equal(JSON.parse(promoted.stdout).digest, JSON.parse(pushed.stdout).digest);
    } finally {
      await plain.stop();
    }
  });
});
