// push, re-push, app-only change, tags, inspect and promote against a real registry (Debian's
// docker-registry with TLS and htpasswd auth), counting blob uploads in the registry's own log.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { estimateCompressedLayerSizes, readDockerArchive } from "../generator/image/archive.ts";
import { contentTagFor } from "../generator/registry/content-tag.ts";
import { inspectImage, listTags, resolveTagDigest, type RegistryOptions } from "../generator/registry/index.ts";
import { Secret } from "../generator/secret.ts";
import { buildTestImage, type TestImage } from "./helpers/archive.ts";
import { runCli } from "./helpers/nixway-cli.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { makeRepo, minimalService, removeRepo } from "./helpers/temp-repo.ts";

let registry: TestRegistry;
let root: string;
let work: string;
let common: string[];
let lib: RegistryOptions;
let savedSecret: string | undefined;
const images: Record<string, TestImage> = {};

before(async () => {
  registry = await startRegistry();
  work = mkdtempSync(path.join(os.tmpdir(), "nixway-push-test-"));
  root = await makeRepo({
    "nixway.yaml": `registry: ${registry.host}/ns\n`,
    ...minimalService("hello"),
    ...minimalService("big", "name: big\nport: 8080\nimageSizeBudgetMB: 1\napp:\n  entry: index.ts\n"),
  });
  common = ["--root", root, "--cert-dir", registry.certDir];
  savedSecret = process.env.SCW_SECRET_KEY;
  process.env.SCW_SECRET_KEY = registry.password;
  lib = { registry: `${registry.host}/ns`, secret: new Secret(registry.password), certDir: registry.certDir };
  images.v1 = await buildTestImage({ file: path.join(work, "v1.tar"), seed: "push", appVersion: "1" });
  images.v2 = await buildTestImage({ file: path.join(work, "v2.tar"), seed: "push", appVersion: "2" });
});

after(async () => {
  if (savedSecret === undefined) delete process.env.SCW_SECRET_KEY;
  else process.env.SCW_SECRET_KEY = savedSecret;
  await registry?.stop();
  if (root) await removeRepo(root);
  if (work) rmSync(work, { recursive: true, force: true });
});

async function push(archive: string, ...extra: string[]) {
  const mark = registry.mark();
  const r = await runCli(["push", "hello", "--archive", archive, "--json", ...extra, ...common]);
  await registry.settle();
  const json = r.code === 0 ? JSON.parse(r.stdout) : undefined;
  return { ...r, json, uploads: registry.uploadsSince(mark), requests: registry.requestsSince(mark) };
}

describe("push", () => {
  test("first push uploads every layer and the config, tags the content tag and testing", async () => {
    const r = await push(images.v1.file);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(r.json).sort(), ["configDigest", "contentTag", "digest", "image", "tags", "uploaded"]);
    assert.equal(r.json.contentTag, contentTagFor(images.v1.configDigest));
    assert.equal(r.json.image, `${registry.host}/ns/hello:${r.json.contentTag}`);
    assert.deepEqual(r.json.tags, ["testing"]);
    assert.equal(r.json.uploaded, true);
    assert.match(r.json.digest, /^sha256:[0-9a-f]{64}$/);

    const info = await inspectImage(lib, "hello", "testing");
    assert.equal(info.digest, r.json.digest);
    assert.equal(info.configDigest, images.v1.configDigest);
    const expected = [...info.layers.map((l) => l.digest), images.v1.configDigest].sort();
    assert.deepEqual(r.uploads.map((u) => u.digest).sort(), expected);
    assert.equal(await resolveTagDigest(lib, "hello", r.json.contentTag), r.json.digest);
    // The budget's size estimate is close to what skopeo actually uploaded.
    const estimates = await estimateCompressedLayerSizes(await readDockerArchive(images.v1.file));
    for (const [i, l] of info.layers.entries()) {
      assert.ok(Math.abs(estimates[i] - l.size) / l.size < 0.1, `layer ${i + 1}: estimate ${estimates[i]}, pushed ${l.size}`);
    }
  });

  test("re-pushing the same image uploads no blob and only moves the tags", async () => {
    const first = await resolveTagDigest(lib, "hello", "testing");
    const r = await push(images.v1.file, "--tag", "testing", "--tag", "staging");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.uploaded, false);
    assert.equal(r.json.digest, first);
    assert.deepEqual(r.json.tags, ["testing", "staging"]);
    assert.deepEqual(r.uploads, []);
    assert.deepEqual(r.requests.filter((q) => q.method === "POST" || q.method === "PATCH"), [], "no upload session was even started");
    assert.equal(await resolveTagDigest(lib, "hello", "staging"), first);
    assert.match(r.stderr, /already holds this image/);
  });

  test("an app-only change uploads only the changed layer (and the new config)", async () => {
    const before = await inspectImage(lib, "hello", "testing");
    const r = await push(images.v2.file);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.uploaded, true);
    const afterInfo = await inspectImage(lib, "hello", "testing");
    assert.equal(afterInfo.digest, r.json.digest);
    assert.equal(afterInfo.layers[0].digest, before.layers[0].digest, "runtime layer unchanged");
    assert.notEqual(afterInfo.layers[1].digest, before.layers[1].digest);
    assert.deepEqual(r.uploads.map((u) => u.digest).sort(), [afterInfo.layers[1].digest, images.v2.configDigest].sort());
  });

  test("text output names the image, digest and tags", async () => {
    const r = await runCli(["push", "hello", "--archive", images.v2.file, ...common]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^image   ${registry.host}/ns/hello:c-[0-9a-f]{20}$`, "m"));
    assert.match(r.stdout, /^digest  sha256:[0-9a-f]{64}$/m);
    assert.match(r.stdout, /^tags    c-[0-9a-f]{20} testing$/m);
    assert.match(r.stdout, /^upload  none/m);
  });

  test("a stream script and a .tar.gz archive push like the tar they produce", async () => {
    const script = path.join(work, "stream-image");
    writeFileSync(script, `#!/bin/sh\nexec cat '${images.v1.file}'\n`);
    chmodSync(script, 0o755);
    const viaScript = await push(script);
    assert.equal(viaScript.code, 0, viaScript.stderr);
    assert.equal(viaScript.json.contentTag, contentTagFor(images.v1.configDigest));
    assert.equal(viaScript.json.uploaded, false, "same image as v1: already there");

    // A path with a colon (skopeo would read "docker-archive:a:b" as path "a" and reference "b").
    const colon = await buildTestImage({ file: path.join(work, "image:colon.tar"), seed: "push", appVersion: "colon" });
    const viaColon = await push(colon.file);
    assert.equal(viaColon.code, 0, viaColon.stderr);
    assert.equal(viaColon.json.uploaded, true);
    assert.equal(viaColon.json.contentTag, contentTagFor(colon.configDigest));

    const gz = await buildTestImage({ file: path.join(work, "v3.tar.gz"), seed: "push", appVersion: "3", gzip: true });
    const viaGzip = await push(gz.file);
    assert.equal(viaGzip.code, 0, viaGzip.stderr);
    assert.equal(viaGzip.json.contentTag, contentTagFor(gz.configDigest));
    assert.equal(viaGzip.json.uploaded, true);
    assert.equal(viaGzip.uploads.length, 2, "app layer and config only");
  });

  test("a non-amd64 image is refused before any request, saying to build for x86_64-linux", async () => {
    const arm = await buildTestImage({ file: path.join(work, "arm.tar"), seed: "push", architecture: "arm64" });
    delete process.env.SCW_SECRET_KEY; // refused before the secret is even read
    const r = await push(arm.file).finally(() => (process.env.SCW_SECRET_KEY = registry.password));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /linux\/arm64/);
    assert.match(r.stderr, /build it for x86_64-linux/);
    assert.match(r.stderr, /amd64/);
    assert.deepEqual(r.requests, []);
  });

  test("an image over imageSizeBudgetMB is refused at the budget's line, naming the largest layers", async () => {
    const big = await buildTestImage({ file: path.join(work, "big.tar"), seed: "push", appBytes: 2_500_000 });
    const mark = registry.mark();
    const r = await runCli(["push", "big", "--archive", big.file, ...common]);
    await registry.settle();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^services\/big\/service\.yaml:3:\d+: error: image is about 2\.\d MB compressed, over imageSizeBudgetMB 1 /m);
    assert.match(r.stderr, /largest layers: layer 2 of 2 \(sha256:[0-9a-f]{12}\) 2\.\d MB: \/app; layer 1 of 2/);
    assert.deepEqual(registry.requestsSince(mark), []);
  });

  test("usage errors: no --archive, a content tag as --tag, no registry", async () => {
    const noArchive = await runCli(["push", "hello", ...common]);
    assert.equal(noArchive.code, 2);
    assert.match(noArchive.stderr, /missing --archive/);
    const contentTag = await runCli(["push", "hello", "--archive", images.v1.file, "--tag", "c-0123456789abcdef0123", ...common]);
    assert.equal(contentTag.code, 2);
    assert.match(contentTag.stderr, /content tags nixway sets itself/);
    const bare = await makeRepo(minimalService("hello"));
    try {
      const noRegistry = await runCli(["push", "hello", "--archive", images.v1.file, "--root", bare]);
      assert.equal(noRegistry.code, 2);
      assert.match(noRegistry.stderr, /no registry: set registryNamespace/);
    } finally {
      await removeRepo(bare);
    }
  });
});

describe("tags and inspect", () => {
  test("tags lists the content tags and the mutable tags, sorted", async () => {
    const r = await runCli(["tags", "hello", ...common]);
    assert.equal(r.code, 0, r.stderr);
    const tags = r.stdout.trim().split("\n");
    assert.deepEqual(tags, [...tags].sort());
    for (const t of [contentTagFor(images.v1.configDigest), contentTagFor(images.v2.configDigest), "staging", "testing"]) assert.ok(tags.includes(t), t);
    const json = await runCli(["tags", "hello", "--json", ...common]);
    assert.deepEqual(JSON.parse(json.stdout), { repository: `${registry.host}/ns/hello`, tags });
    assert.deepEqual(await listTags(lib, "never-pushed"), []);
  });

  test("the secret can come from apiSecret.command in nixway.yaml (no SCW_SECRET_KEY)", async () => {
    const secretFile = path.join(work, "api-secret");
    writeFileSync(secretFile, `${registry.password}\n`, { mode: 0o600 });
    const viaCommand = await makeRepo({
      "nixway.yaml": `registry: ${registry.host}/ns\napiSecret:\n  command: [cat, ${JSON.stringify(secretFile)}]\n`,
      ...minimalService("hello"),
    });
    delete process.env.SCW_SECRET_KEY;
    try {
      const r = await runCli(["tags", "hello", "--root", viaCommand, "--cert-dir", registry.certDir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^testing$/m);
    } finally {
      process.env.SCW_SECRET_KEY = registry.password;
      await removeRepo(viaCommand);
    }
  });

  test("inspect --json gives digest, created, architecture, layers with compressed sizes, size, ports, cmd", async () => {
    const r = await runCli(["inspect", "hello:testing", "--json", ...common]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    for (const k of ["digest", "created", "architecture", "layers", "size", "exposedPorts", "cmd"]) assert.ok(k in info, k);
    assert.equal(info.digest, await resolveTagDigest(lib, "hello", "testing"));
    assert.equal(info.created, "1970-01-01T00:00:01Z");
    assert.equal(info.architecture, "amd64");
    assert.equal(info.layers.length, 2);
    assert.ok(info.layers.every((l: { size: number }) => l.size > 0));
    assert.equal(info.size, info.layers[0].size + info.layers[1].size);
    assert.deepEqual(info.exposedPorts, ["8080/tcp"]);
    assert.deepEqual(info.cmd, images.v1.config.config && (images.v1.config.config as { Cmd: string[] }).Cmd);
  });

  test("inspect text output and a missing tag", async () => {
    const r = await runCli(["inspect", "hello", ...common]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^image         ${registry.host}/ns/hello:testing$`, "m"));
    assert.match(r.stdout, /^architecture  linux\/amd64$/m);
    assert.match(r.stdout, /^exposed ports 8080\/tcp$/m);
    assert.match(r.stdout, /^cmd           \/bin\/sh -c "exec \/app\/index.ts"$/m);
    assert.match(r.stdout, /^ +1 +\d+\.\d kB  sha256:[0-9a-f]{64}$/m);
    assert.match(r.stdout, /^size          \d+\.\d kB compressed$/m);
    const missing = await runCli(["inspect", "hello:nope", ...common]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /hello:nope does not exist/);
    assert.equal(await resolveTagDigest(lib, "hello", "nope"), undefined);
    assert.equal(await resolveTagDigest(lib, "never-pushed", "testing"), undefined);
  });
});

describe("promote", () => {
  test("moves the tag by manifest only: no blob upload, old and new digest printed", async () => {
    const testing = await resolveTagDigest(lib, "hello", "testing");
    const mark = registry.mark();
    const r = await runCli(["promote", "hello", "--from", "testing", "--to", "production", ...common]);
    await registry.settle();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^old    \(none: new tag\)$/m);
    assert.match(r.stdout, new RegExp(`^new    ${testing}$`, "m"));
    const requests = registry.requestsSince(mark);
    assert.deepEqual(registry.uploadsSince(mark), []);
    assert.deepEqual(requests.filter((q) => q.method === "POST" || q.method === "PATCH" || (q.method === "PUT" && !q.uri.includes("/manifests/"))), []);
    assert.deepEqual(requests.filter((q) => q.method === "PUT").map((q) => q.uri), ["/v2/ns/hello/manifests/production"]);
    assert.equal(await resolveTagDigest(lib, "hello", "production"), testing, "same digest: the manifest bytes were kept");
  });

  test("from a content tag back to an older image, then again (unchanged)", async () => {
    const current = await resolveTagDigest(lib, "hello", "production");
    const v1Tag = contentTagFor(images.v1.configDigest);
    const v1 = await resolveTagDigest(lib, "hello", v1Tag);
    const r = await runCli(["promote", "hello", "--from", v1Tag, "--to", "production", "--json", ...common]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      image: `${registry.host}/ns/hello:production`,
      from: v1Tag,
      to: "production",
      digest: v1,
      previousDigest: current,
      changed: true,
    });
    const again = await runCli(["promote", "hello", "--from", v1Tag, "--to", "production", ...common]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /unchanged: already there/);
  });

  test("refuses a missing source tag and leaves the target alone", async () => {
    const before = await resolveTagDigest(lib, "hello", "production");
    const r = await runCli(["promote", "hello", "--from", "nope", "--to", "production", ...common]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot promote: .*hello:nope does not exist/);
    assert.equal(await resolveTagDigest(lib, "hello", "production"), before);
    const toContent = await runCli(["promote", "hello", "--from", "testing", "--to", contentTagFor(images.v1.configDigest), ...common]);
    assert.equal(toContent.code, 2);
  });
});
