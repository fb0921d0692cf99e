// Failures against a real registry: wrong password, registry down, 5xx / 429 / dropped connections
// injected by a proxy (recovered by retries, or a bounded failure) on both paths (skopeo's blob
// uploads and nixway's own HTTP requests for manifests), a registry answering another digest than
// the manifest's, a push killed midway then run again, Ctrl-C cleanup, and a secret canary that
// must never show on any command line, in the output, or in a file left behind.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { contentTagFor } from "../generator/registry/content-tag.ts";
import { promoteTag, pushImage, resolveTagDigest, RegistryError, type RegistryOptions } from "../generator/registry/index.ts";
import { Secret } from "../generator/secret.ts";
import { buildTestImage } from "./helpers/archive.ts";
import { failFirst, forwardAll, startFaultProxy, type FaultProxy } from "./helpers/fault-proxy.ts";
import { freePort, spawnNixway, startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { makeRepo, minimalService, removeRepo } from "./helpers/temp-repo.ts";

const CANARY = `canary-${randomBytes(16).toString("hex")}`;
const CANARY_FORMS = [CANARY, Buffer.from(`nologin:${CANARY}`).toString("base64")];

let registry: TestRegistry;
let proxy: FaultProxy;
let root: string;
let work: string;

before(async () => {
  registry = await startRegistry({ password: CANARY });
  proxy = await startFaultProxy({ port: registry.port, ca: registry.ca }, { cert: registry.ca, key: readFileSync(registry.keyFile, "utf8") });
  work = mkdtempSync(path.join(os.tmpdir(), "nixway-faults-test-"));
  root = await makeRepo({ "nixway.yaml": `registry: ${registry.host}/ns\n`, ...minimalService("hello") });
});

after(async () => {
  await proxy?.close();
  await registry?.stop();
  if (root) await removeRepo(root);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Library options through the proxy (namespace `ns` unless given), fast retries. */
function viaProxy(namespace = "ns", log: string[] = []): RegistryOptions {
  return {
    registry: `${proxy.host}/${namespace}`,
    secret: new Secret(CANARY),
    certDir: registry.certDir,
    retry: { attempts: 4, initialDelayMs: 50, maxDelayMs: 200 },
    log: (l) => log.push(l),
  };
}

function direct(namespace: string): RegistryOptions {
  return { registry: `${registry.host}/${namespace}`, secret: new Secret(CANARY), certDir: registry.certDir };
}

/** A fresh, empty TMPDIR for a nixway child, and the env it runs with. */
function childEnv(secret: string): { env: NodeJS.ProcessEnv; tmp: string } {
  const tmp = mkdtempSync(path.join(work, "tmpdir-"));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: tmp, SCW_SECRET_KEY: secret };
  return { env, tmp };
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...filesUnder(p));
  }
  return out;
}

/**
 * What nixway left in a child's TMPDIR: everything except tsx's compile cache (bin/nixway.js runs the
 * TypeScript through tsx, which caches transpiled sources there; checked for the canary separately).
 */
function leftovers(tmp: string): string[] {
  return filesUnder(tmp).filter((f) => !path.relative(tmp, f).startsWith("tsx-"));
}

/** No file under `dir` holds the canary (in any form). */
function assertNoCanaryIn(dir: string): void {
  for (const f of filesUnder(dir).filter((f) => statSync(f).isFile())) {
    assert.ok(!CANARY_FORMS.some((c) => readFileSync(f, "latin1").includes(c)), `canary found in ${f}`);
  }
}

/** skopeo processes whose command line mentions `needle` (e.g. the proxy's port). */
function skopeoProcesses(needle: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.startsWith("skopeo\0") && cmd.includes(needle)) pids.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return pids;
}

async function noSkopeoLeft(needle: string): Promise<number[]> {
  for (let i = 0; i < 30 && skopeoProcesses(needle).length; i++) await new Promise((r) => setTimeout(r, 100));
  return skopeoProcesses(needle);
}

describe("credentials and reachability", () => {
  test("a wrong password says to check or regenerate the API secret, at once and without echoing it", async () => {
    const wrong = `wrong-${randomBytes(8).toString("hex")}`;
    const { env, tmp } = childEnv(wrong);
    const img = await buildTestImage({ file: path.join(work, "wrong.tar"), seed: "wrong" });
    const started = Date.now();
    const r = await spawnNixway(["push", "hello", "--archive", img.file, "--root", root, "--cert-dir", registry.certDir], { env }).done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /rejected the credentials \(unauthorized\)/);
    assert.match(r.stderr, /check the Scaleway API secret/);
    assert.match(r.stderr, /regenerate it/);
    assert.doesNotMatch(r.stderr, /retrying/, "unauthorized is not retried");
    assert.ok(!(r.stdout + r.stderr).includes(wrong));
    assert.ok(Date.now() - started < 20_000);
    assert.deepEqual(leftovers(tmp), []);
  });

  test("a registry that is down is a clear error naming it", async () => {
    const port = await freePort();
    const { env } = childEnv(CANARY);
    const r = await spawnNixway(["tags", "hello", "--registry", `127.0.0.1:${port}/ns`, "--root", root, "--cert-dir", registry.certDir], { env }).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot reach registry 127\\.0\\.0\\.1:${port}.*connection refused.*is the registry up\\?`));
  });

  test("an untrusted certificate says how to trust it", async () => {
    const { env } = childEnv(CANARY);
    const r = await spawnNixway(["tags", "hello", "--root", root], { env }).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /x509: certificate signed by unknown authority.*--cert-dir DIR/);
  });
});

describe("retries", () => {
  test("503 on upload start twice, then success", async () => {
    const img = await buildTestImage({ file: path.join(work, "r503.tar"), seed: "r503" });
    const log: string[] = [];
    proxy.setRule(failFirst(2, (m, u) => m === "POST" && u.includes("/blobs/uploads/"), { status: 503 }));
    const seen = proxy.requests.length;
    const result = await pushImage({ ...viaProxy("r503", log), service: "hello", archive: img.file });
    proxy.setRule(forwardAll);
    assert.equal(result.uploaded, true);
    assert.equal(proxy.requests.slice(seen).filter((r) => r.action === 503).length, 2);
    // skopeo starts both layer uploads at once: the two 503s may land in one attempt or two.
    const retries = log.filter((l) => /503 Service Unavailable; retrying/.test(l)).length;
    assert.ok(retries >= 1 && retries <= 2, log.join("\n"));
    assert.equal(await resolveTagDigest(direct("r503"), "hello", "testing"), result.digest);
  });

  test("a registry that keeps failing gives up after the configured attempts, with no tag moved", async () => {
    const img = await buildTestImage({ file: path.join(work, "rfail.tar"), seed: "rfail" });
    const log: string[] = [];
    proxy.setRule(failFirst(Infinity, (m, u) => m === "POST" && u.includes("/blobs/uploads/"), { status: 502 }));
    const started = Date.now();
    await assert.rejects(
      pushImage({ ...viaProxy("rfail", log), retry: { attempts: 3, initialDelayMs: 50, maxDelayMs: 100 }, service: "hello", archive: img.file }),
      (e: Error) => e instanceof RegistryError && e.kind === "transient" && /502 Bad Gateway/.test(e.message) && /gave up after 3 attempts/.test(e.message),
    );
    proxy.setRule(forwardAll);
    assert.ok(Date.now() - started < 20_000);
    assert.equal(log.filter((l) => /retrying/.test(l)).length, 2);
    assert.equal(await resolveTagDigest(direct("rfail"), "hello", "testing"), undefined);
    assert.equal(await resolveTagDigest(direct("rfail"), "hello", contentTagFor(img.configDigest)), undefined);
  });

  test("a dropped connection mid-upload, then success", async () => {
    const img = await buildTestImage({ file: path.join(work, "rdrop.tar"), seed: "rdrop" });
    const log: string[] = [];
    proxy.setRule(failFirst(1, (m) => m === "PATCH", "drop"));
    const result = await pushImage({ ...viaProxy("rdrop", log), service: "hello", archive: img.file });
    proxy.setRule(forwardAll);
    assert.equal(log.filter((l) => /retrying/.test(l)).length, 1, log.join("\n"));
    assert.equal(await resolveTagDigest(direct("rdrop"), "hello", "testing"), result.digest);
  });

  test("429 on the manifest, then success", async () => {
    const img = await buildTestImage({ file: path.join(work, "r429.tar"), seed: "r429" });
    const log: string[] = [];
    proxy.setRule(failFirst(1, (m, u) => m === "PUT" && u.includes("/manifests/"), { status: 429 }));
    const result = await pushImage({ ...viaProxy("r429", log), service: "hello", archive: img.file });
    proxy.setRule(forwardAll);
    assert.equal(log.filter((l) => /toomanyrequests; retrying/.test(l)).length, 1, JSON.stringify(log));
    assert.equal(await resolveTagDigest(direct("r429"), "hello", "testing"), result.digest);
  });
});

describe("retries on the manifest path (nixway's HTTP client)", () => {
  /** Namespace `ns` with production on image a and testing on image b, pushed directly (not through the proxy). */
  async function twoTags(ns: string) {
    const a = await buildTestImage({ file: path.join(work, `${ns}-a.tar`), seed: `${ns}-a` });
    const b = await buildTestImage({ file: path.join(work, `${ns}-b.tar`), seed: `${ns}-b` });
    const production = await pushImage({ ...direct(ns), service: "hello", archive: a.file, tags: ["production"] });
    const testing = await pushImage({ ...direct(ns), service: "hello", archive: b.file, tags: ["testing"] });
    return { a, b, production, testing };
  }

  test("503 on the manifest reads twice, then the promote completes", async () => {
    const { testing } = await twoTags("h503");
    const log: string[] = [];
    proxy.setRule(failFirst(2, (m, u) => m === "GET" && u.includes("/manifests/"), { status: 503 }));
    const seen = proxy.requests.length;
    const r = await promoteTag(viaProxy("h503", log), "hello", "testing", "production").finally(() => proxy.setRule(forwardAll));
    assert.equal(r.changed, true);
    assert.equal(proxy.requests.slice(seen).filter((q) => q.action === 503).length, 2);
    assert.equal(log.filter((l) => /: 503 Service Unavailable; retrying in 0\.\d s \(attempt [23] of 4\)$/.test(l)).length, 2, log.join("\n"));
    assert.equal(await resolveTagDigest(direct("h503"), "hello", "production"), testing.digest);
  });

  test("429 with Retry-After on a no-op push's tag PUT, then success; no blob upload", async () => {
    const { a, production } = await twoTags("h429");
    const log: string[] = [];
    proxy.setRule(failFirst(1, (m, u) => m === "PUT" && u.includes("/manifests/"), { status: 429, headers: { "retry-after": "0" } }));
    const mark = registry.mark();
    const r = await pushImage({ ...viaProxy("h429", log), service: "hello", archive: a.file, tags: ["staging"] }).finally(() => proxy.setRule(forwardAll));
    assert.equal(r.uploaded, false);
    assert.equal(log.filter((l) => /429 Too Many Requests \(toomanyrequests: too many requests\); retrying/.test(l)).length, 1, log.join("\n"));
    await registry.settle();
    assert.deepEqual(registry.uploadsSince(mark), []);
    assert.equal(await resolveTagDigest(direct("h429"), "hello", "staging"), production.digest);
  });

  test("a connection dropped at first contact is retried with backoff; one dropped on a reused keep-alive connection at once", async () => {
    const { testing } = await twoTags("hdrop");
    const log: string[] = [];
    proxy.setRule(failFirst(1, (m, u) => m === "GET" && u.includes("/manifests/testing"), "drop"));
    const first = await promoteTag(viaProxy("hdrop", log), "hello", "testing", "staging").finally(() => proxy.setRule(forwardAll));
    assert.equal(first.changed, true);
    assert.equal(log.filter((l) => /connection dropped \(.*\); retrying/.test(l)).length, 1, log.join("\n"));

    // The PUT goes out on the connection the reads used: a server closing it is the stale keep-alive case.
    const log2: string[] = [];
    proxy.setRule(failFirst(1, (m, u) => m === "PUT" && u.includes("/manifests/production"), "drop"));
    const seen = proxy.requests.length;
    const second = await promoteTag(viaProxy("hdrop", log2), "hello", "testing", "production").finally(() => proxy.setRule(forwardAll));
    assert.equal(second.changed, true);
    assert.deepEqual(proxy.requests.slice(seen).filter((q) => q.method === "PUT").map((q) => q.action), ["drop", "forward"]);
    assert.deepEqual(log2.filter((l) => /retrying/.test(l)), []);
    assert.equal(await resolveTagDigest(direct("hdrop"), "hello", "production"), testing.digest);
  });

  test("a registry that keeps failing the tag PUT gives up after the configured attempts; the target does not move", async () => {
    const { production } = await twoTags("hfail");
    const log: string[] = [];
    proxy.setRule(failFirst(Infinity, (m, u) => m === "PUT" && u.includes("/manifests/"), { status: 502 }));
    await assert.rejects(
      promoteTag({ ...viaProxy("hfail", log), retry: { attempts: 3, initialDelayMs: 50, maxDelayMs: 100 } }, "hello", "testing", "production"),
      (e: Error) =>
        e instanceof RegistryError &&
        e.kind === "transient" &&
        /registry 127\.0\.0\.1:\d+ failed while trying to tag .*hello:production \(502 Bad Gateway\); gave up after 3 attempts/.test(e.message),
    );
    proxy.setRule(forwardAll);
    assert.equal(log.filter((l) => /502 Bad Gateway; retrying/.test(l)).length, 2);
    assert.equal(await resolveTagDigest(direct("hfail"), "hello", "production"), production.digest);
  });

  test("a registry answering another Docker-Content-Digest than the manifest's is reported, not trusted", async () => {
    await twoTags("hdigest");
    const wrong = `sha256:${"0".repeat(64)}`;
    proxy.setRule(failFirst(1, (m, u) => m === "PUT" && u.includes("/manifests/production"), { status: 201, headers: { "docker-content-digest": wrong }, body: "" }));
    await assert.rejects(promoteTag(viaProxy("hdigest"), "hello", "testing", "production"), (e: Error) => {
      assert.match(e.message, new RegExp(`stored .*hello:production as ${wrong}, not sha256:[0-9a-f]{64}: the manifest bytes were changed on the way`));
      return true;
    });
    proxy.setRule(forwardAll);
  });

  test("a promote against a registry that is down says so at once", async () => {
    const port = await freePort();
    const { env } = childEnv(CANARY);
    const r = await spawnNixway(["promote", "hello", "--from", "testing", "--to", "production", "--registry", `127.0.0.1:${port}/ns`, "--root", root, "--cert-dir", registry.certDir], { env }).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot reach registry 127\\.0\\.0\\.1:${port} to read the manifest .*connection refused.*is the registry up\\?`));
  });
});

describe("interruptions", () => {
  test("a push killed midway leaves the mutable tag on the old image; running it again completes", async () => {
    const a = await buildTestImage({ file: path.join(work, "kill-a.tar"), seed: "kill-a" });
    const b = await buildTestImage({ file: path.join(work, "kill-b.tar"), seed: "kill-b", runtimeBytes: 1_000_000, appBytes: 1_000_000 });
    const first = await pushImage({ ...viaProxy("kill"), service: "hello", archive: a.file });

    // Hold the first blob commit: one layer stays uncommitted while the other may finish.
    proxy.setRule(failFirst(1, (m, u) => m === "PUT" && u.includes("/blobs/uploads/"), "stall"));
    const seen = proxy.requests.length;
    const mark = registry.mark();
    const { env, tmp } = childEnv(CANARY);
    const args = ["push", "hello", "--archive", b.file, "--registry", `${proxy.host}/kill`, "--root", root, "--cert-dir", registry.certDir, "--json"];
    const killed = spawnNixway(args, { env });
    await proxy.waitFor((r) => r.action === "stall" && proxy.requests.indexOf(r) >= seen);
    for (let i = 0; i < 50 && registry.uploadsSince(mark).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    killed.child.kill("SIGTERM");
    const k = await killed.done;
    assert.equal(k.signal, "SIGTERM", `exit ${k.code}: ${k.stderr}`);
    assert.deepEqual(await noSkopeoLeft(`${proxy.host}/kill`), [], "skopeo was stopped with nixway");
    assert.deepEqual(leftovers(tmp), [], "auth file and temp dirs removed on SIGTERM");
    assertNoCanaryIn(tmp);
    proxy.setRule(forwardAll);

    await registry.settle();
    const committed = registry.uploadsSince(mark).map((u) => u.digest);
    assert.equal(committed.length, 1, "the other layer was committed before the kill: a real partial push");
    assert.equal(await resolveTagDigest(direct("kill"), "hello", "testing"), first.digest, "testing still on the old image");
    assert.equal(await resolveTagDigest(direct("kill"), "hello", contentTagFor(b.configDigest)), undefined, "no content tag for a partial image");

    const mark2 = registry.mark();
    const again = await spawnNixway(args, { env }).done;
    assert.equal(again.code, 0, again.stderr);
    const result = JSON.parse(again.stdout);
    await registry.settle();
    const reuploaded = registry.uploadsSince(mark2).map((u) => u.digest);
    assert.deepEqual(reuploaded.filter((d) => committed.includes(d)), [], "blobs committed before the kill are reused");
    assert.ok(reuploaded.includes(b.configDigest));
    assert.equal(await resolveTagDigest(direct("kill"), "hello", "testing"), result.digest);
    assert.equal(await resolveTagDigest(direct("kill"), "hello", result.contentTag), result.digest);
  });

  test("Ctrl-C (SIGINT) stops skopeo and removes the 0600 auth file and its 0700 directory", async () => {
    const img = await buildTestImage({ file: path.join(work, "int.tar"), seed: "int" });
    // Hold skopeo's first blob upload (the content-tag check before it is nixway's own HTTP request).
    proxy.setRule(failFirst(1, (m, u) => m === "POST" && u.includes("/blobs/uploads/"), "stall"));
    const seen = proxy.requests.length;
    const { env, tmp } = childEnv(CANARY);
    const p = spawnNixway(["push", "hello", "--archive", img.file, "--registry", `${proxy.host}/int`, "--root", root, "--cert-dir", registry.certDir], { env });
    await proxy.waitFor((r) => r.action === "stall" && proxy.requests.indexOf(r) >= seen);
    // While skopeo waits, the credentials exist only in a private directory.
    const authDirs = readdirSync(tmp).filter((n) => n.startsWith("nixway-auth-"));
    assert.equal(authDirs.length, 1, readdirSync(tmp).join(", "));
    const authDir = path.join(tmp, authDirs[0]);
    assert.equal(statSync(authDir).mode & 0o777, 0o700);
    assert.equal(statSync(path.join(authDir, "auth.json")).mode & 0o777, 0o600);
    assert.ok(skopeoProcesses(`${proxy.host}/int`).length > 0);
    p.child.kill("SIGINT");
    const r = await p.done;
    proxy.setRule(forwardAll);
    assert.equal(r.signal, "SIGINT", `exit ${r.code}: ${r.stderr}`);
    assert.ok(!existsSync(authDir));
    assert.deepEqual(leftovers(tmp), []);
    assertNoCanaryIn(tmp);
    assert.deepEqual(await noSkopeoLeft(`${proxy.host}/int`), []);
  });
});

describe("secret canary", () => {
  test("never on any command line or skopeo's environment during a push, nor in output or files left behind", async () => {
    const img = await buildTestImage({ file: path.join(work, "canary.tar"), seed: "canary", appBytes: 4_000_000 });
    const { env, tmp } = childEnv(CANARY);
    const p = spawnNixway(["push", "hello", "--archive", img.file, "--tag", "testing", "--tag", "canary", "--root", root, "--cert-dir", registry.certDir], { env });
    let running = true;
    void p.done.then(() => (running = false));
    let samples = 0;
    let skopeoSeen = 0;
    const hits: string[] = [];
    while (running) {
      samples++;
      for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
        let cmd: string;
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1");
        } catch {
          continue;
        }
        if (CANARY_FORMS.some((f) => cmd.includes(f))) hits.push(`cmdline of ${pid}: ${cmd.split("\0").join(" ")}`);
        if (cmd.startsWith("skopeo\0")) {
          skopeoSeen++;
          try {
            if (CANARY_FORMS.some((f) => readFileSync(`/proc/${pid}/environ`, "latin1").includes(f))) hits.push(`environ of skopeo ${pid}`);
          } catch {
            /* exited meanwhile */
          }
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    const r = await p.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(samples > 10 && skopeoSeen > 0, `sampled ${samples} times, saw skopeo ${skopeoSeen} times`);
    assert.deepEqual(hits, []);
    assert.ok(!CANARY_FORMS.some((f) => (r.stdout + r.stderr).includes(f)), "not in stdout/stderr");
    assert.deepEqual(leftovers(tmp), [], "nothing of nixway's left in TMPDIR");
    assertNoCanaryIn(tmp);
    assertNoCanaryIn(root);
    // skopeo's blob-info cache (root's location) records digests, never credentials.
    const cache = "/var/lib/containers/cache/blob-info-cache-v1.boltdb";
    if (existsSync(cache)) assert.ok(!CANARY_FORMS.some((c) => readFileSync(cache, "latin1").includes(c)));
  });
});
