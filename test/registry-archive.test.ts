// Reading docker-archives (helper-built, gzip, stream script, GNU tar with long names), the content
// tag, the API secret's sources and redaction. No registry needed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";
import { InputError, OperationError } from "../generator/diagnostics.ts";
import { estimateCompressedLayerSizes, openArchive, readDockerArchive } from "../generator/image/archive.ts";
import { takeTlsVerify } from "../generator/registry/cli-options.ts";
import { contentTagFor, isContentTag } from "../generator/registry/content-tag.ts";
import { budgetProblem, checkPlatform } from "../generator/registry/push.ts";
import { classify, skopeoMessage } from "../generator/registry/skopeo.ts";
import { childEnv, resolveApiSecret, Secret } from "../generator/secret.ts";
import { buildTestImage } from "./helpers/archive.ts";

let work: string;
const privateDirs = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith("nixway-image-") || n.startsWith("nixway-auth-"));
let dirsBefore: string[];
before(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "nixway-archive-test-"));
  dirsBefore = privateDirs();
});
after(() => rmSync(work, { recursive: true, force: true }));

describe("content tag", () => {
  test("is c- and the first 20 hex of the config digest", () => {
    const digest = `sha256:${"0123456789abcdef".repeat(4)}`;
    assert.equal(contentTagFor(digest), "c-0123456789abcdef0123");
    assert.ok(isContentTag(contentTagFor(digest)));
    assert.ok(!isContentTag("testing"));
    assert.throws(() => contentTagFor("sha256:abc"));
  });
});

describe("docker-archive reading", () => {
  test("a helper-built archive: config digest, architecture, layers in order with sizes", async () => {
    const img = await buildTestImage({ file: path.join(work, "a.tar") });
    const a = await readDockerArchive(img.file);
    assert.equal(a.configDigest, img.configDigest);
    assert.equal(a.architecture, "amd64");
    assert.equal(a.os, "linux");
    assert.deepEqual(a.layers.map((l) => l.diffId), img.diffIds);
    assert.deepEqual(a.layers.map((l) => l.size), img.layerSizes);
    assert.equal(a.size, img.layerSizes[0] + img.layerSizes[1]);
    // The offsets point at the layer bytes: their sha256 is the diff id.
    const bytes = readFileSync(img.file);
    for (const l of a.layers) {
      const h = createHash("sha256").update(bytes.subarray(l.offset, l.offset + l.size)).digest("hex");
      assert.equal(`sha256:${h}`, l.diffId);
    }
  });

  test("an app-only change keeps the runtime layer byte for byte and changes the config", async () => {
    const v1 = await buildTestImage({ file: path.join(work, "v1.tar"), appVersion: "1" });
    const v2 = await buildTestImage({ file: path.join(work, "v2.tar"), appVersion: "2" });
    assert.equal(v1.diffIds[0], v2.diffIds[0]);
    assert.notEqual(v1.diffIds[1], v2.diffIds[1]);
    assert.notEqual(v1.configDigest, v2.configDigest);
    // Deterministic: the same inputs give the same archive.
    const again = await buildTestImage({ file: path.join(work, "v1-again.tar"), appVersion: "1" });
    assert.deepEqual(readFileSync(again.file), readFileSync(v1.file));
  });

  test("an archive written by GNU tar (long names, ./ prefixes) reads the same", async () => {
    const img = await buildTestImage({ file: path.join(work, "src.tar") });
    const dir = path.join(work, "gnu");
    mkdirSync(dir);
    assert.equal(spawnSync("tar", ["-xf", img.file, "-C", dir]).status, 0);
    // Move the layers under a >100-character directory name so the tar needs a long-name header.
    const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"));
    const deep = `${"very-long-directory-name-".repeat(6)}x`;
    manifest[0].Layers = manifest[0].Layers.map((l: string) => {
      const target = path.join(deep, l);
      mkdirSync(path.join(dir, path.dirname(target)), { recursive: true });
      writeFileSync(path.join(dir, target), readFileSync(path.join(dir, l)));
      return target;
    });
    writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
    for (const format of ["gnu", "pax"]) {
      const out = path.join(work, `${format}.tar`);
      const r = spawnSync("tar", [`--format=${format}`, "-cf", out, "-C", dir, "."], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const a = await readDockerArchive(out);
      assert.equal(a.configDigest, img.configDigest, format);
      assert.deepEqual(a.layers.map((l) => l.size), img.layerSizes, format);
      assert.ok(a.layers[0].path.startsWith(deep), format);
    }
  });

  test("a .tar.gz archive is decompressed into a private temp file, removed by dispose()", async () => {
    const img = await buildTestImage({ file: path.join(work, "z.tar.gz"), gzip: true });
    const opened = await openArchive(img.file);
    assert.equal(opened.source, "gzip");
    assert.equal(opened.archive.configDigest, img.configDigest);
    const tempDir = path.dirname(opened.archive.file);
    assert.equal((await import("node:fs")).statSync(tempDir).mode & 0o777, 0o700);
    opened.dispose();
    assert.ok(!existsSync(tempDir));
  });

  test("an executable stream script is run without a shell and its stdout read as the archive", async () => {
    const img = await buildTestImage({ file: path.join(work, "s.tar") });
    // A name with a space and a quote: only an argv (no shell) runs it as is.
    const script = path.join(work, "stream it's.sh");
    writeFileSync(script, `#!/bin/sh\nexec cat '${img.file}'\n`);
    chmodSync(script, 0o755);
    const opened = await openArchive(script);
    assert.equal(opened.source, "stream");
    assert.equal(opened.archive.configDigest, img.configDigest);
    opened.dispose();
  });

  test("a failing stream script, a non-archive and a missing file are clear errors", async () => {
    const bad = path.join(work, "fail.sh");
    writeFileSync(bad, "#!/bin/sh\necho 'nix: build failed' >&2\nexit 3\n");
    chmodSync(bad, 0o755);
    await assert.rejects(openArchive(bad), (e: Error) => e instanceof OperationError && /exited with status 3/.test(e.message) && /build failed/.test(e.message));
    const text = path.join(work, "notes.txt");
    writeFileSync(text, "hello\n");
    await assert.rejects(openArchive(text), (e: Error) => e instanceof InputError && /neither a docker-archive/.test(e.message));
    await assert.rejects(openArchive(path.join(work, "nope.tar")), (e: Error) => e instanceof InputError && /no such file/.test(e.message));
    const plain = path.join(work, "plain.tar");
    assert.equal(spawnSync("tar", ["-cf", plain, "-C", work, "notes.txt"]).status, 0);
    await assert.rejects(openArchive(plain), (e: Error) => e instanceof InputError && /no manifest.json/.test(e.message));
  });

  test("platform check refuses non-amd64 images, saying to build for x86_64-linux", async () => {
    const img = await buildTestImage({ file: path.join(work, "arm.tar"), architecture: "arm64" });
    const a = await readDockerArchive(img.file);
    assert.throws(() => checkPlatform(a, "--archive arm.tar"), (e: Error) => e instanceof InputError && /linux\/arm64/.test(e.message) && /x86_64-linux/.test(e.message));
  });

  test("compressed size estimate and budget message name the largest layers", async () => {
    const img = await buildTestImage({ file: path.join(work, "big.tar"), appBytes: 2_500_000 });
    const a = await readDockerArchive(img.file);
    const sizes = await estimateCompressedLayerSizes(a);
    // Random filler does not compress: the app layer stays about its size; the runtime binaries shrink.
    assert.ok(sizes[1] > 2_500_000 && sizes[1] < 2_600_000, String(sizes[1]));
    assert.ok(sizes[0] < img.layerSizes[0], String(sizes[0]));
    assert.equal(await budgetProblem(a, 10), undefined);
    // A layer of several chunks, against the real gzip: within 1%.
    const multi = await readDockerArchive((await buildTestImage({ file: path.join(work, "multi.tar"), runtimeBytes: 10_000_000 })).file);
    const [estimate] = await estimateCompressedLayerSizes(multi);
    const l = multi.layers[0];
    const gz = spawnSync("gzip", ["-6", "-c"], { input: readFileSync(multi.file).subarray(l.offset, l.offset + l.size), maxBuffer: 64 << 20 });
    assert.equal(gz.status, 0);
    assert.ok(Math.abs(estimate - gz.stdout.length) / gz.stdout.length < 0.01, `estimate ${estimate}, gzip ${gz.stdout.length}`);
    const problem = await budgetProblem(a, 1);
    assert.match(problem ?? "", /about 2\.\d MB compressed, over imageSizeBudgetMB 1/);
    assert.match(problem ?? "", /largest layers: layer 2 of 2 \(sha256:[0-9a-f]{12}\) 2\.\d MB: \/app/);
  });
});

describe("API secret", () => {
  test("Secret never prints itself", () => {
    const s = new Secret("hunter2-canary");
    assert.equal(String(s), "[redacted]");
    assert.equal(`${s}`, "[redacted]");
    assert.equal(JSON.stringify({ s }), '{"s":"[redacted]"}');
    assert.ok(!inspect(s).includes("hunter2"));
    assert.equal(s.reveal(), "hunter2-canary");
    const b64 = Buffer.from("nologin:hunter2-canary").toString("base64");
    assert.equal(s.redact(`a hunter2-canary b ${b64}`), "a [redacted] b [redacted]");
  });

  test("from the environment variable nixway.yaml names (default SCW_SECRET_KEY)", async () => {
    const s = await resolveApiSecret({ apiSecret: { env: "SCW_SECRET_KEY" }, file: undefined }, { env: { SCW_SECRET_KEY: "k1\n" } });
    assert.equal(s.reveal(), "k1");
    await assert.rejects(
      resolveApiSecret({ apiSecret: { env: "MY_KEY" }, file: "nixway.yaml" }, { env: {} }),
      (e: Error) => e instanceof OperationError && /MY_KEY is not set/.test(e.message),
    );
  });

  test("from apiSecret.command (first line of stdout), SCW_SECRET_KEY winning when set", async () => {
    const secretFile = path.join(work, "secret.txt");
    writeFileSync(secretFile, "from-command\nuser: someone\n", { mode: 0o600 });
    const cmd = { apiSecret: { command: ["cat", secretFile] }, file: "nixway.yaml" };
    assert.equal((await resolveApiSecret(cmd, { env: { PATH: process.env.PATH } })).reveal(), "from-command");
    assert.equal((await resolveApiSecret(cmd, { env: { PATH: process.env.PATH, SCW_SECRET_KEY: "from-env" } })).reveal(), "from-env");
  });

  test("a failing command is reported with its stderr, never its stdout", async () => {
    const script = path.join(work, "pass.sh");
    writeFileSync(script, "#!/bin/sh\necho half-printed-secret\necho 'gpg: decryption failed' >&2\nexit 2\n");
    chmodSync(script, 0o755);
    await assert.rejects(
      resolveApiSecret({ apiSecret: { command: [script] }, file: "nixway.yaml" }, { env: {} }),
      (e: Error) => e instanceof OperationError && /exited with status 2/.test(e.message) && /decryption failed/.test(e.message) && !e.message.includes("half-printed-secret"),
    );
  });

  test("children get no secret variables", () => {
    const env = childEnv({ apiSecret: { env: "MY_KEY" } }, { PATH: "/bin", SCW_SECRET_KEY: "x", MY_KEY: "y", REGISTRY_AUTH_FILE: "/z" });
    assert.deepEqual(env, { PATH: "/bin" });
  });
});

describe("skopeo messages", () => {
  test("the fatal message is extracted and classified", () => {
    const msg = skopeoMessage(
      'time="2026-12-04T20:07:47Z" level=fatal msg="Error parsing image name \\"docker://h/ns/x:t\\": reading manifest t in h/ns/x: unauthorized: authentication required"\n',
    );
    assert.equal(msg, "reading manifest t in h/ns/x: unauthorized: authentication required");
    assert.equal(classify(msg), "unauthorized");
    assert.equal(classify("reading manifest t in h/ns/x: manifest unknown: manifest unknown"), "not-found");
    assert.equal(classify('Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'), "unreachable");
    assert.equal(classify("received unexpected HTTP status: 503 Service Unavailable"), "transient");
    assert.equal(classify("toomanyrequests: too many requests"), "transient");
    assert.equal(classify('Patch "https://h/v2/ns/x/blobs/uploads/u": use of closed network connection'), "transient");
    assert.equal(classify("x509: certificate signed by unknown authority"), "tls");
  });

  test("--tls-verify=false is taken out before flag parsing", () => {
    assert.deepEqual(takeTlsVerify("push", ["a", "--tls-verify=false", "b"]), { argv: ["a", "b"], tlsVerify: false });
    assert.deepEqual(takeTlsVerify("push", ["--tls-verify"]), { argv: [], tlsVerify: true });
    assert.throws(() => takeTlsVerify("push", ["--tls-verify=maybe"]));
  });
});

test("no private temp directory is left behind by these tests", () => {
  assert.deepEqual(privateDirs().filter((d) => !dirsBefore.includes(d)), []);
});
