// `nixway smoke` on real bun processes: the example service passes; broken fixture apps
// (test/fixtures/smoke) fail with the runbook cause; an image archive with the real bun binary
// runs unpacked and chrooted. Every run must leave no process and no temp directory behind.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { OperationError } from "../generator/diagnostics.ts";
import { unpackImage } from "../generator/image/unpack.ts";
import { loadService } from "../generator/repo.ts";
import { portInUse, smokeRun, type SmokeOptions } from "../generator/smoke.ts";
import { BIN, REPO_ROOT, spawnCli } from "./helpers/nixway-cli.ts";
import { buildBunImage, chrootCheckingApp, writeDockerArchive } from "./helpers/rootfs-archive.ts";
import { freePort } from "./helpers/free-port.ts";

const FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "smoke");

// Every temp directory smoke makes (and the test archives) land here, so leftovers show.
const TMP = mkdtempSync(path.join(os.tmpdir(), "nixway-smoke-test-"));
chmodSync(TMP, 0o1777); // the non-root run below needs it too
process.env.TMPDIR = TMP;
after(() => rmSync(TMP, { recursive: true, force: true }));

function leftovers(): string[] {
  return readdirSync(TMP).filter((n) => n.startsWith("nixway-smoke-") || n.startsWith("nixway-image-"));
}

/** A free port whose successor is free too (the wrong-port fixture listens on PORT+1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (p < 65535 && !(await portInUse(p + 1))) return p;
  }
  throw new Error("no two consecutive free ports on 127.0.0.1");
}

async function fixture(name: string, opts: Partial<SmokeOptions> = {}) {
  const { service } = await loadService(FIXTURES, name);
  return smokeRun({ service, root: FIXTURES, port: await freePort(), timeoutMs: 5_000, ...opts });
}

async function afterRun(port: number): Promise<void> {
  assert.equal(await portInUse(port), false, `nothing may listen on ${port} once smoke returns`);
  assert.deepEqual(leftovers(), []);
}

describe("nixway smoke, app runs", { timeout: 120_000 }, () => {
  test("the example service passes, with its cold start and peak RSS", async () => {
    const { service } = await loadService(REPO_ROOT, "hello");
    const port = await freePort();
    const r = await smokeRun({ service, root: REPO_ROOT, port, timeoutMs: 20_000 });
    assert.equal(r.ok, true, `${r.cause}: ${r.detail}\n${r.outputTail.join("\n")}`);
    assert.equal(r.cause, null);
    assert.equal(r.detail, null);
    assert.equal(r.mode, "app");
    assert.equal(r.healthPath, "/health");
    assert.equal(r.healthStatus, 200);
    assert.ok(typeof r.firstResponseMs === "number" && r.firstResponseMs > 0);
    assert.ok(r.peakRssMB > 1 && r.peakRssMB < 256, `peak ${r.peakRssMB}`);
    assert.equal(r.memoryLimitMB, 256);
    assert.deepEqual(r.listening, [`0.0.0.0:${port}`]);
    assert.ok(r.notes.some((n) => /secrets are not set.*API_KEY is absent/.test(n)), r.notes.join("\n"));
    assert.deepEqual(r.outputTail, [`hello listening on 0.0.0.0:${port}`]);
    await afterRun(port);
  });

  test("--json through the CLI, with a stack's settings", async () => {
    const port = await freePort();
    const r = await spawnCli(["smoke", "hello", "--json", "--port", String(port), "--stack", "production", "--timeout", "20"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j).slice(0, 4), ["ok", "firstResponseMs", "peakRssMB", "cause"]);
    assert.equal(j.ok, true);
    assert.equal(j.cause, null);
    assert.equal(typeof j.firstResponseMs, "number");
    assert.equal(typeof j.peakRssMB, "number");
    assert.equal(j.memoryLimitMB, 512, "production's memoryLimit");
    assert.equal(r.stderr, "", "--json prints nothing else");
    await afterRun(port);
  });

  test("an app listening on another port: port mismatch, naming the port it uses", async () => {
    const port = await freePortPair();
    const r = await spawnCli(["smoke", "wrong-port", "--root", FIXTURES, "--json", "--port", String(port), "--timeout", "3"]);
    assert.equal(r.code, 1, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, false);
    assert.equal(j.cause, "port-mismatch");
    assert.equal(j.firstResponseMs, null);
    assert.deepEqual(j.listening, [`0.0.0.0:${port + 1}`]);
    assert.match(j.detail, new RegExp(`nothing answered on PORT ${port} within 3 s; the app listens on 0\\.0\\.0\\.0:${port + 1} instead`));
    await afterRun(port + 1);
  });

  test("an app bound to 127.0.0.1 only: port mismatch, though it answers locally", async () => {
    const r = await fixture("loopback-only");
    assert.equal(r.cause, "port-mismatch", `${r.cause}: ${r.detail}`);
    assert.equal(r.healthStatus, 200);
    assert.deepEqual(r.listening, [`127.0.0.1:${r.port}`]);
    assert.match(r.detail!, /listens on 127\.0\.0\.1:\d+ only; .*bind 0\.0\.0\.0/);
    await afterRun(r.port);
  });

  test("an app that crashes at start: entrypoint crash, with its last stderr lines", async () => {
    const port = await freePort();
    const r = await spawnCli(["smoke", "crash-at-start", "--root", FIXTURES, "--port", String(port)]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAILED: crash-at-start: entrypoint crash: the process exited with status 1 before answering; its last output is below$/m);
    assert.match(r.stdout, /^ {2}\| ENOENT: no such file or directory, open '\/nonexistent\/nixway-smoke-fixture\/config\.json'$/m);
    const lib = await fixture("crash-at-start");
    assert.equal(lib.cause, "entrypoint-crash");
    assert.deepEqual(lib.exit, { code: 1, signal: null });
    assert.ok(lib.outputTail.some((l) => l.includes("ENOENT")), lib.outputTail.join("\n"));
    await afterRun(port);
  });

  test("an app allocating past memoryLimit: memory limit exceeded, and it is killed", async () => {
    const r = await fixture("memory-hog");
    assert.equal(r.cause, "memory-limit-exceeded", `${r.cause}: ${r.detail}`);
    assert.equal(r.ok, false);
    assert.equal(r.memoryLimitMB, 128);
    assert.ok(r.peakRssMB > 128, `peak ${r.peakRssMB}`);
    assert.match(r.detail!, /over memoryLimit 128 MB; the process was killed/);
    await afterRun(r.port);
  });

  test("a health path answering 503: health path not 2xx", async () => {
    const r = await fixture("unhealthy", { timeoutMs: 2_000 });
    assert.equal(r.cause, "health-check-failed");
    assert.equal(r.healthStatus, 503);
    assert.equal(r.healthPath, "/healthz");
    assert.ok(r.firstResponseMs !== null);
    await afterRun(r.port);
  });

  test("a port already taken here is refused before anything starts", async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      await assert.rejects(fixture("unhealthy", { port }), (err: unknown) => err instanceof OperationError && /port \d+ is already in use/.test(err.message));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.deepEqual(leftovers(), []);
  });

  test("SIGINT kills the app and removes the temp directory", async () => {
    const port = await freePortPair();
    const child = spawn(process.execPath, [BIN, "smoke", "wrong-port", "--root", FIXTURES, "--port", String(port), "--timeout", "60"], {
      env: { ...process.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      // Up means: the app listens on its (wrong) port.
      const until = Date.now() + 20_000;
      while (!(await portInUse(port + 1))) {
        assert.ok(Date.now() < until, `the app never came up: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(readdirSync(TMP).some((n) => n.startsWith("nixway-smoke-")), "a temp dir exists while it runs");
      child.kill("SIGINT");
      assert.equal(await exited, 130, stderr);
      assert.match(stderr, /interrupted; the process was killed and its temp files removed/);
    } finally {
      child.kill("SIGKILL");
    }
    await afterRun(port + 1);
  });
});

describe("nixway smoke --archive: unpack and chroot", { timeout: 180_000 }, () => {
  let archive: string;
  before(async () => {
    archive = path.join(TMP, "image.tar");
    await buildBunImage(archive, await chrootCheckingApp());
  });

  test("unpack applies layers in order, with whiteouts, symlinks and ownership", async () => {
    const root = mkdtempSync(path.join(TMP, "unpacked-"));
    try {
      const image = await unpackImage(archive, root);
      assert.equal(image.layerCount, 2);
      assert.deepEqual(image.config.entrypoint, ["/bin/bun"]);
      assert.deepEqual(image.config.cmd, ["/app/index.ts"]);
      assert.equal(image.config.user, "app");
      assert.equal(image.config.workingDir, "/app");
      assert.deepEqual(image.config.exposedPorts, ["8080/tcp"]);
      assert.ok(lstatSync(path.join(root, "bin")).isSymbolicLink());
      assert.match(readlinkSync(path.join(root, "bin")), /^\/nix\/store\/[a-z0-9]{32}-bun-1\.4\.5\/bin$/);
      const bun = statSync(path.join(root, readlinkSync(path.join(root, "bin")), "bun"));
      assert.equal(bun.mode & 0o777, 0o755);
      assert.equal(existsSync(path.join(root, "etc", "obsolete.conf")), false, "whited out by layer 2");
      assert.equal(existsSync(path.join(root, "etc", ".wh.obsolete.conf")), false, "whiteout markers are not files");
      assert.deepEqual(readdirSync(path.join(root, "srv", "cache")), ["fresh"], "the opaque directory keeps only layer 2's entries");
      assert.match(readFileSync(path.join(root, "etc", "passwd"), "utf8"), /^app:x:1000:1000:/m);
      const app = statSync(path.join(root, "app", "index.ts"));
      assert.equal(app.uid, 0);
      assert.equal(app.mode & 0o777, 0o644);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  for (const gzip of [false, true]) {
    test(`a layer cannot write outside the root through a symlink from a lower layer${gzip ? " (gzip archive, gzip layer)" : ""}`, async () => {
      const outside = path.join(TMP, "outside");
      mkdirSync(outside);
      const work = mkdtempSync(path.join(TMP, "evil-"));
      const lower = path.join(work, "lower");
      const upper = path.join(work, "upper");
      mkdirSync(lower);
      symlinkSync(outside, path.join(lower, "abs")); // absolute: must mean <root>/<outside>
      symlinkSync(`${"../".repeat(12)}${outside.slice(1)}`, path.join(lower, "rel")); // ".." must stop at the root
      mkdirSync(path.join(upper, "abs"), { recursive: true });
      mkdirSync(path.join(upper, "rel"), { recursive: true });
      writeFileSync(path.join(upper, "abs", "pwned-abs"), "x");
      writeFileSync(path.join(upper, "rel", "pwned-rel"), "x");
      const evil = path.join(work, gzip ? "evil.tar.gz" : "evil.tar");
      // The upper layer names the files alone, without their directories, so the lower symlinks stay.
      await writeDockerArchive(evil, [{ dir: lower }, { dir: upper, members: ["abs/pwned-abs", "rel/pwned-rel"], gzip }], { Cmd: ["/x"] }, { gzip });
      const root = mkdtempSync(path.join(TMP, "unpacked-"));
      try {
        await unpackImage(evil, root);
        assert.deepEqual(readdirSync(outside), [], "nothing written outside the root");
        assert.equal(readFileSync(path.join(root, outside, "pwned-abs"), "utf8"), "x");
        assert.equal(readFileSync(path.join(root, outside, "pwned-rel"), "utf8"), "x");
      } finally {
        rmSync(root, { recursive: true, force: true });
        rmSync(work, { recursive: true, force: true });
        rmSync(outside, { recursive: true, force: true });
      }
      assert.deepEqual(leftovers(), [], "the decompressed copy is removed");
    });
  }

  test("the image's Cmd runs chrooted with its Env, User and WorkingDir, and answers", async () => {
    const r = await fixture("image-app", { archive, timeoutMs: 20_000 });
    assert.equal(r.mode, "chroot", `chroot runs need root and unshare (util-linux): ${r.notes.join("; ")}`);
    // image-app's /health is 500 unless uid, cwd, Env, whiteouts and the missing host files are right.
    assert.equal(r.ok, true, `${r.cause}: ${r.detail}\n${r.outputTail.join("\n")}`);
    assert.equal(r.healthStatus, 200);
    assert.ok(r.peakRssMB > 1);
    assert.ok(r.notes.some((n) => n.startsWith("unpacked 2 layers")), r.notes.join("\n"));
    await afterRun(r.port);
  });

  test("an image whose Cmd is a #!/usr/bin/env bun script: entrypoint crash, naming the missing interpreter", async () => {
    const shebang = path.join(TMP, "shebang.tar");
    await buildBunImage(shebang, `#!/usr/bin/env bun\n${await chrootCheckingApp()}`, { config: { Entrypoint: null, Cmd: ["/app/index.ts"] }, appMode: 0o755 });
    try {
      const r = await fixture("image-app", { archive: shebang, timeoutMs: 20_000 });
      assert.equal(r.mode, "chroot", r.notes.join("; "));
      assert.equal(r.cause, "entrypoint-crash", `${r.cause}: ${r.detail}`);
      assert.deepEqual(r.exit, { code: 127, signal: null });
      assert.match(r.detail!, /\/app\/index\.ts starts with #!\/usr\/bin\/env, which is not in the image/);
      await afterRun(r.port);
    } finally {
      rmSync(shebang, { force: true });
    }
  });

  test("without root it says chroot is not possible and runs the app directory instead", async () => {
    const port = await freePort();
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) =>
      execFile(
        process.execPath,
        [BIN, "smoke", "image-app", "--root", FIXTURES, "--archive", archive, "--json", "--port", String(port), "--timeout", "3"],
        { cwd: REPO_ROOT, env: { ...process.env, HOME: TMP }, uid: 65534, gid: 65534, timeout: 60_000, encoding: "utf8" },
        (err, stdout, stderr) => (err && typeof err.code !== "number" ? reject(err) : resolve({ code: err ? Number(err.code) : 0, stdout, stderr })),
      ),
    );
    const j = JSON.parse(r.stdout || "{}");
    assert.equal(j.mode, "app", r.stderr);
    assert.ok(
      j.notes.some((n: string) => n.includes("cannot run the image chrooted: chroot needs root (running as uid 65534); ran the app directory with bun instead")),
      j.notes.join("\n"),
    );
    // Outside the image the app sees the host and another uid: its own checks fail, visibly.
    assert.equal(j.cause, "health-check-failed");
    assert.equal(j.healthStatus, 500);
    assert.equal(r.code, 1);
    await afterRun(port);
  });
});
