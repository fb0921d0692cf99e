// `nixway deploy` end to end: real skopeo pushing to a real registry (TLS, htpasswd), the real
// @scaleway/sdk client against the replay server's recorded API traffic, and a recording fake of the
// Pulumi CLI (it cannot be installed here) found on PATH by the real default runner, so the command
// line and the environment deploy gives pulumi are asserted exactly as they would run.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { checkProgramPackages, formatDeploy, measureColdStart, progressFor, pulumiCli, pulumiSteps, runDeploy, type DeployOptions } from "../generator/deploy.ts";
import { loadService } from "../generator/repo.ts";
import { resolveTagDigest } from "../generator/registry/inspect.ts";
import { createScalewayApi } from "../generator/scaleway/api.ts";
import { Secret } from "../generator/secret.ts";
import { buildTestImage, type TestImage } from "./helpers/archive.ts";
import { REPO_ROOT, runCli } from "./helpers/nixway-cli.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { fakeCredentials, recordedContainers, replayConfig, startReplayServer, type ReplayServer } from "./helpers/replay-server.ts";
import { makeRepo, removeRepo } from "./helpers/temp-repo.ts";

const HELLO_YAML = readFileSync(path.join(REPO_ROOT, "services/hello/service.yaml"), "utf8");
const HELLO_APP = readFileSync(path.join(REPO_ROOT, "services/hello/app/index.ts"), "utf8");

interface PulumiCall {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

/**
 * A stand-in `pulumi` executable: appends {argv, cwd, env} of each call to FAKE_PULUMI_LOG and answers
 * from FAKE_PULUMI_SPEC: `stack output --json` prints spec.outputs; `up` fails spec.upFailures times
 * with spec.upFailureText first. Everything else succeeds silently, like the real CLI would.
 */
const FAKE_PULUMI = `#!/usr/bin/env node
const fs = require("fs");
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_PULUMI_LOG, JSON.stringify({ argv: args, cwd: process.cwd(), env: process.env }) + "\\n");
const spec = JSON.parse(fs.readFileSync(process.env.FAKE_PULUMI_SPEC, "utf8"));
if (args[0] === "up") {
  const calls = fs.readFileSync(process.env.FAKE_PULUMI_LOG, "utf8").trim().split("\\n").filter((l) => JSON.parse(l).argv[0] === "up").length;
  if (calls <= (spec.upFailures || 0)) {
    process.stdout.write(spec.upFailureText + "\\n");
    process.exit(255);
  }
  process.stdout.write("Updating (" + args[args.indexOf("--stack") + 1] + ")\\n\\nResources:\\n    3 unchanged\\n");
}
if (args[0] === "stack" && args[1] === "output") process.stdout.write(JSON.stringify(spec.outputs) + "\\n");
`;

const work = mkdtempSync(path.join(os.tmpdir(), "nixway-deploy-test-"));
const bin = path.join(work, "bin");
const LOG = path.join(work, "pulumi-calls.jsonl");
const SPEC = path.join(work, "pulumi-spec.json");
let registry: TestRegistry;
let image: TestImage;
let root: string;
let health: Server;
let healthBase: string;
let healthAnswer = 200;
const creds = fakeCredentials();

before(async () => {
  registry = await startRegistry({ password: creds.secretKey });
  image = await buildTestImage({ file: path.join(work, "hello.tar") });
  root = await makeRepo({
    "nixway.yaml": `region: fr-par\nregistry: ${registry.host}/test\nprojectId: ${creds.projectId}\nstateBucket: nixway-test-state\n`,
    "services/hello/service.yaml": HELLO_YAML,
    "services/hello/app/index.ts": HELLO_APP,
    "services/hello/infra/Pulumi.yaml": "name: hello\nruntime: nodejs\n",
  });
  // As after `npm ci`: the real runner's preflight resolves the program's packages from here.
  symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(root, "node_modules"));
  mkdirSync(bin);
  writeFileSync(path.join(bin, "pulumi"), FAKE_PULUMI);
  chmodSync(path.join(bin, "pulumi"), 0o755);
  health = createServer((req, res) => {
    res.writeHead(req.url === "/health" ? healthAnswer : 404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ status: "ok" }));
  });
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  healthBase = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
});

after(async () => {
  health?.close();
  await registry?.stop();
  if (root) await removeRepo(root);
  rmSync(work, { recursive: true, force: true });
});

function calls(): PulumiCall[] {
  try {
    return readFileSync(LOG, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as PulumiCall);
  } catch {
    return [];
  }
}

function setFake(spec: { outputs: Record<string, unknown>; upFailures?: number; upFailureText?: string }): void {
  writeFileSync(LOG, "");
  writeFileSync(SPEC, JSON.stringify(spec));
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  PATH: `${bin}:${process.env.PATH}`,
  HOME: process.env.HOME,
  FAKE_PULUMI_LOG: LOG,
  FAKE_PULUMI_SPEC: SPEC,
  PULUMI_CONFIG_PASSPHRASE: "stack-passphrase-canary",
  // The secret also sits in the parent's environment, as in real use: it must not leak onto argv anyway.
  SCW_SECRET_KEY: creds.secretKey,
});

async function deployOptions(server: ReplayServer, over: Partial<DeployOptions> = {}): Promise<DeployOptions> {
  const { repo, service } = await loadService(root, "hello");
  const scaleway = replayConfig(server, creds);
  return {
    service,
    stack: "testing",
    root,
    repoConfig: repo.config,
    archive: image.file,
    scaleway,
    api: createScalewayApi(scaleway),
    registry: { registry: `${registry.host}/test`, secret: new Secret(creds.secretKey), certDir: registry.certDir },
    baseEnv: baseEnv(),
    pollMinMs: 1,
    pollMaxMs: 2,
    waitTimeoutMs: 10_000,
    healthBaseUrl: healthBase,
    healthIntervalMs: 10,
    healthDeadlineMs: 2_000,
    smoke: false,
    ...over,
  };
}

describe("deploy: the ready path", () => {
  test("push, pulumi (argv and env asserted), wait through the recorded statuses, cold start", async () => {
    const server = await startReplayServer({ cassettes: ["container-with-img"], secretKey: creds.secretKey, endBeforeTeardown: true });
    try {
      const recorded = recordedContainers("container-with-img")[0];
      setFake({ outputs: { containerId: recorded.id, status: "ready", url: "https://ignored.example" } });
      const lines: string[] = [];
      const result = await runDeploy(await deployOptions(server, { progress: progressFor({ write: (t: string) => lines.push(t) }, false) }));

      // The registry really holds the image under its content tag and the stack's tag.
      const regOpts = { registry: `${registry.host}/test`, secret: new Secret(creds.secretKey), certDir: registry.certDir };
      assert.match(result.contentTag, /^c-[0-9a-f]{20}$/);
      assert.equal(result.contentTag, `c-${image.configDigest.slice(7, 27)}`);
      assert.equal(result.image, `${registry.host}/test/hello:${result.contentTag}`);
      assert.equal(await resolveTagDigest(regOpts, "hello", result.contentTag), result.digest);
      assert.equal(await resolveTagDigest(regOpts, "hello", "testing"), result.digest);
      assert.deepEqual(result.tags, ["testing"]);
      assert.equal(result.uploaded, true);

      // Pulumi ran exactly these command lines, in services/hello/infra.
      const made = calls();
      assert.deepEqual(
        made.map((c) => c.argv),
        [...pulumiSteps("testing", result), ["stack", "output", "--json", "--stack", "testing", "--non-interactive"]],
      );
      assert.deepEqual(made[1].argv, ["config", "set", "image", result.image, "--plaintext", "--stack", "testing", "--non-interactive"]);
      assert.deepEqual(made[2].argv, ["config", "set", "imageDigest", result.digest, "--plaintext", "--stack", "testing", "--non-interactive"]);
      assert.deepEqual(made[3].argv, ["up", "--yes", "--stack", "testing", "--non-interactive"]);
      for (const c of made) {
        assert.equal(c.cwd, path.join(root, "services/hello/infra"));
        // Never a secret on argv...
        for (const a of c.argv) {
          assert.ok(!a.includes(creds.secretKey), `secret on pulumi argv: ${c.argv.join(" ")}`);
          assert.ok(!a.includes("stack-passphrase-canary"));
        }
        // ...only in the environment: S3 state credentials, the provider's keys, the passphrase passed through.
        assert.equal(c.env.AWS_ACCESS_KEY_ID, creds.accessKey);
        assert.equal(c.env.AWS_SECRET_ACCESS_KEY, creds.secretKey);
        assert.equal(c.env.SCW_ACCESS_KEY, creds.accessKey);
        assert.equal(c.env.SCW_SECRET_KEY, creds.secretKey);
        assert.equal(c.env.SCW_DEFAULT_PROJECT_ID, creds.projectId);
        assert.equal(c.env.SCW_DEFAULT_REGION, "fr-par");
        assert.equal(c.env.PULUMI_BACKEND_URL, "s3://nixway-test-state?endpoint=s3.fr-par.scw.cloud&region=fr-par&s3ForcePathStyle=true");
        assert.equal(c.env.PULUMI_CONFIG_PASSPHRASE, "stack-passphrase-canary");
      }

      // The container walked through the recorded statuses to ready; the health path answered.
      assert.equal(result.containerId, recorded.id);
      assert.equal(result.status, "ready");
      assert.equal(result.ok, true);
      assert.equal(result.errorMessage, null);
      assert.equal(result.url, "https://testcrns0215z3log2-my-container-02.functions.fnc.fr-par.scw.cloud");
      assert.equal(typeof result.coldStartMs, "number");
      assert.deepEqual(result.health, { url: `${healthBase}/health`, status: 200, error: null });
      assert.equal(result.diagnosis, null);
      assert.deepEqual(server.unmatched(), []);
      const progress = lines.join("");
      // (The lookup by id read the recorded "created"; the wait then saw the rest.)
      assert.match(progress, /\npulumi up --stack testing\nhello \(testing\): pending \(\d+ s\)\nhello \(testing\): ready \(\d+ s\)\n/);

      // The summary ends with digest, tags, container id, status, URL and cold start.
      const text = formatDeploy(result);
      assert.match(text, /^deployed hello to testing\n/);
      assert.match(text, new RegExp(`\\n  digest +${result.digest}\\n  tags +${result.contentTag}, testing\\n  container +${recorded.id}\\n  status +ready\\n  url +https://testcrns0215z3log2-my-container-02\\.functions\\.fnc\\.fr-par\\.scw\\.cloud\\n  cold start +\\d+ ms \\(GET ${healthBase.replaceAll(".", "\\.")}/health answered 200\\)\\n$`));
    } finally {
      await server.close();
    }
  });

  test("deploying the same image again uploads nothing", async () => {
    const server = await startReplayServer({ cassettes: ["domain-basic"], endBeforeTeardown: true });
    try {
      const recorded = recordedContainers("domain-basic")[0];
      setFake({ outputs: { containerId: recorded.id } });
      const mark = registry.mark();
      const result = await runDeploy(await deployOptions(server));
      await registry.settle();
      assert.equal(result.uploaded, false);
      assert.deepEqual(registry.uploadsSince(mark), []);
      assert.equal(result.status, "ready");
      assert.equal(result.ok, true);
    } finally {
      await server.close();
    }
  });

  test("a 409 transient state from pulumi up is retried", async () => {
    const server = await startReplayServer({ cassettes: ["container-with-img"], endBeforeTeardown: true });
    try {
      setFake({
        outputs: { containerId: recordedContainers("container-with-img")[0].id },
        upFailures: 1,
        upFailureText: "error: scaleway:containers:Container (hello): scaleway-sdk-go: http error 409 Conflict: resource container with ID x is in a transient state: pending",
      });
      const lines: string[] = [];
      const result = await runDeploy(await deployOptions(server, { progress: progressFor({ write: (t: string) => lines.push(t) }, false) }));
      assert.equal(calls().filter((c) => c.argv[0] === "up").length, 2);
      assert.match(lines.join(""), /pulumi up hit a 409 transient state: waiting for the container to settle, then retrying\npulumi up --stack testing \(attempt 2 of 3\)\n/);
      assert.equal(result.ok, true);
    } finally {
      await server.close();
    }
  });
});

describe("deploy: failures exit non-zero with a diagnosis", () => {
  test("the recorded 'Image was not found' error: nixway deploy exits 1 and names the cause (CLI, --json)", async () => {
    const server = await startReplayServer({ cassettes: ["container-basic"], secretKey: creds.secretKey, endBeforeTeardown: true });
    const saved = { ...process.env };
    try {
      const failed = recordedContainers("container-basic").at(-1)!;
      setFake({ outputs: { containerId: failed.id } });
      // The CLI polls with its real backoff (2 s doubling): walk the replay to the recorded error first,
      // so the deploy's own reads find it there (the transitions are covered by the tests above).
      await createScalewayApi(replayConfig(server, creds)).waitForContainer(failed.id, { minDelayMs: 1, maxDelayMs: 1 });
      Object.assign(process.env, baseEnv(), { SCW_ACCESS_KEY: creds.accessKey, SCW_API_URL: server.url });
      const r = await runCli(["deploy", "hello", "--stack", "testing", "--archive", image.file, "--cert-dir", registry.certDir, "--json", "--no-smoke", "--root", root]);
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.ok, false);
      assert.equal(out.status, "error");
      assert.equal(out.errorMessage, "Image was not found in container registry.");
      assert.equal(out.containerId, failed.id);
      const cause = out.diagnosis.causes.find((c: { id: string }) => c.id === "image-not-found");
      assert.equal(cause.ok, false);
      assert.match(cause.fix, /npx nixway push hello --archive .*hello\.tar --tag latest/);
      assert.match(r.stderr, /hello \(testing\): error: Image was not found in container registry\.; diagnosing/);
      assert.ok(!r.stdout.includes(creds.secretKey) && !r.stderr.includes(creds.secretKey));
      assert.ok(calls().every((c) => c.argv.every((a) => !a.includes(creds.secretKey))));
    } finally {
      process.env = saved;
      await server.close();
    }
  });

  test("ready but the health path answers 502: exit non-zero with the health-check cause", async () => {
    const server = await startReplayServer({ cassettes: ["domain-basic"], endBeforeTeardown: true });
    healthAnswer = 502;
    try {
      setFake({ outputs: { containerId: recordedContainers("domain-basic")[0].id } });
      const result = await runDeploy(await deployOptions(server, { healthDeadlineMs: 200 }));
      assert.equal(result.status, "ready");
      assert.equal(result.ok, false);
      assert.equal(result.coldStartMs, null);
      assert.equal(result.health?.status, 502);
      const cause = result.diagnosis!.causes.find((c) => c.id === "health-check")!;
      assert.equal(cause.ok, false);
      assert.match(cause.detail, /answered 502 \(the runbook's 'ready but 502'/);
      assert.match(formatDeploy(result), /deploy of hello to testing FAILED\n[\s\S]*cold start +no 2xx from .*\/health \(502\)\n$/);
    } finally {
      healthAnswer = 200;
      await server.close();
    }
  });

  test("a container that never leaves 'created' hits the bounded wait and is diagnosed", async () => {
    const server = await startReplayServer({ cassettes: ["cron-basic"], endBeforeTeardown: true });
    try {
      setFake({ outputs: { containerId: recordedContainers("cron-basic")[0].id } });
      const lines: string[] = [];
      const result = await runDeploy(await deployOptions(server, { waitTimeoutMs: 50, progress: progressFor({ write: (t: string) => lines.push(t) }, false) }));
      assert.equal(result.ok, false);
      assert.equal(result.status, "created");
      assert.match(lines.join(""), /is still 'created' after 0 s; it was created but never deployed: run the deploy again with --redeploy/);
      assert.ok(result.diagnosis);
    } finally {
      await server.close();
    }
  });

  test("no Pulumi program yet: says to generate it, before pushing anything", async () => {
    const bare = await makeRepo({ "services/hello/service.yaml": HELLO_YAML, "services/hello/app/index.ts": HELLO_APP });
    const server = await startReplayServer({ cassettes: [] });
    try {
      const { service, repo } = await loadService(bare, "hello");
      const opts = { ...(await deployOptions(server)), root: bare, service, repoConfig: repo.config };
      await assert.rejects(runDeploy(opts), /services\/hello\/infra\/Pulumi\.yaml does not exist: generate the Pulumi program first \(npx nixway generate\)/);
    } finally {
      await server.close();
      await removeRepo(bare);
    }
  });
});

describe("progress and cold start", () => {
  test("a spinner on a terminal; plain lines otherwise", () => {
    let tty = "";
    const p = progressFor({ write: (t: string) => (tty += t) }, true);
    p.waiting("hello (testing): creating (3 s)");
    p.step("a line");
    p.done();
    assert.match(tty, /^\r\x1b\[2K⠋ hello \(testing\): creating \(3 s\)\r\x1b\[2Ka line\n\r\x1b\[2K⠙ hello \(testing\): creating \(3 s\)\r\x1b\[2K$/);
    let plain = "";
    const q = progressFor({ write: (t: string) => (plain += t) }, false);
    q.waiting("creating");
    q.waiting("creating");
    q.waiting("ready");
    assert.equal(plain, "creating\nready\n");
  });

  test("cold start: 503s while the instance starts, then 200", async () => {
    let n = 0;
    const fakeFetch = (async () => new Response(null, { status: ++n < 3 ? 503 : 200 })) as typeof fetch;
    const r = await measureColdStart(fakeFetch, "http://127.0.0.1:1/health", { intervalMs: 1 });
    assert.equal(r.status, 200);
    assert.equal(r.attempts, 3);
    assert.equal(typeof r.ms, "number");
  });
});

describe("the real Pulumi runner's preflight", () => {
  test("passes where the repository's node_modules has tsx, @pulumi/pulumi and @pulumiverse/scaleway", () => {
    assert.equal(pulumiCli.preflight, checkProgramPackages);
    checkProgramPackages(path.join(REPO_ROOT, "services/hello/infra"), REPO_ROOT);
  });

  test("without node_modules it says to run npm ci, before anything is pushed", async () => {
    const bare = await makeRepo({ "services/hello/infra/index.ts": "export {};\n" });
    try {
      assert.throws(
        () => checkProgramPackages(path.join(bare, "services/hello/infra"), bare),
        (err: Error) =>
          err.message ===
          "services/hello/infra/index.ts cannot load tsx, @pulumi/pulumi, @pulumiverse/scaleway: the Pulumi program runs with the repository's node_modules; run 'npm ci' at the repository root, then deploy again",
      );
    } finally {
      await removeRepo(bare);
    }
  });
});
