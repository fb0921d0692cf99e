// `nixway plan`: the generated program runs under Pulumi's mocks in a child node process, offline
// and without credentials, and prints the resources a deploy would create.
import assert from "node:assert/strict";
import { symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { OperationError } from "../generator/diagnostics.ts";
import { emitPulumi } from "../generator/emit/pulumi.ts";
import { runProgramUnderMocks } from "../generator/plan.ts";
import { loadRepo } from "../generator/repo.ts";
import { REPO_ROOT, runCli, spawnCli } from "./helpers/nixway-cli.ts";
import { makeRepo, minimalService, removeRepo, writeFiles, type RepoFiles } from "./helpers/temp-repo.ts";

const NAMESPACE = "scaleway:containers/namespace:Namespace";
const CONTAINER = "scaleway:containers/container:Container";
const DOMAIN = "scaleway:containers/domain:Domain";
const TRIGGER = "scaleway:containers/trigger:Trigger";
const FULL = path.join(REPO_ROOT, "test/fixtures/pulumi/full");
const MINIMAL = path.join(REPO_ROOT, "test/fixtures/pulumi/minimal");

interface PlanDoc {
  service: string;
  stack: string;
  image: string;
  imageSource: string;
  posture: { kind: string; wakeUpsPerDay?: number; summary: string };
  postures: Record<string, { kind: string }>;
  resources: { type: string; name: string; inputs: Record<string, any> }[];
}

function resource(doc: PlanDoc, type: string) {
  const found = doc.resources.filter((r) => r.type === type);
  assert.equal(found.length, 1, `one ${type} in ${JSON.stringify(doc.resources.map((r) => r.type))}`);
  return found[0];
}

/** A repo in a temp dir whose node_modules is this checkout's, so its programs can run. */
async function runnableRepo(files: RepoFiles): Promise<string> {
  const root = await makeRepo(files);
  symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(root, "node_modules"));
  return root;
}

test("npx nixway plan hello --stack production --json: namespace and container with the production overrides, offline", async () => {
  const sentinel = "scw-secret-sentinel-0c1d";
  const saved = { ...process.env };
  process.env.SCW_SECRET_KEY = sentinel;
  process.env.AWS_SECRET_ACCESS_KEY = sentinel;
  let result;
  try {
    result = await spawnCli(["plan", "hello", "--stack", "production", "--json"]);
  } finally {
    for (const k of ["SCW_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  assert.ok(!result.stdout.includes(sentinel));
  const doc = JSON.parse(result.stdout) as PlanDoc;
  assert.equal(doc.service, "hello");
  assert.equal(doc.stack, "production");
  assert.equal(doc.image, "rg.fr-par.scw.cloud/sanmarcsoft/hello:<content tag of the next push>");
  assert.deepEqual(doc.resources.map((r) => [r.type, r.name]), [
    [NAMESPACE, "hello"],
    [CONTAINER, "hello"],
  ]);
  assert.deepEqual(resource(doc, NAMESPACE).inputs, {
    description: "nixway: hello (production)",
    name: "hello-production",
    projectId: "105bdce1-64c0-48ab-899d-868455867ecf",
    region: "fr-par",
  });
  const c = resource(doc, CONTAINER).inputs;
  assert.equal(c.minScale, 1);
  assert.equal(c.maxScale, 10);
  assert.equal(c.memoryLimitBytes, 512 * 1024 * 1024);
  assert.equal(c.cpuLimit, 280);
  assert.equal(c.port, 8080);
  assert.equal(c.image, doc.image);
  assert.deepEqual(c.environmentVariables, { GREETING: "hello", NODE_ENV: "production" });
  assert.deepEqual(c.secretEnvironmentVariables, { API_KEY: "[secret]" });
  assert.equal(c.namespaceId, "[computed]");
  assert.deepEqual(c.livenessProbe, { failureThreshold: 3, http: { path: "/health" }, interval: "10s", timeout: "10s" });
  assert.equal(doc.posture.kind, "always-warm");
  assert.deepEqual(Object.keys(doc.postures), ["production", "testing"]);
});

test("plan hello --stack testing: testing overrides, the keep-warm trigger, its posture; runs repeat in one process", async () => {
  const first = await runCli(["plan", "hello", "--stack", "testing", "--json"]);
  assert.equal(first.code, 0, first.stderr);
  const doc = JSON.parse(first.stdout) as PlanDoc;
  const c = resource(doc, CONTAINER).inputs;
  assert.equal(c.minScale, 0);
  assert.equal(c.maxScale, 2);
  assert.equal(c.memoryLimitBytes, 256 * 1024 * 1024);
  assert.equal(c.environmentVariables.GREETING, "hello from testing");
  assert.equal(resource(doc, NAMESPACE).inputs.name, "hello-testing");
  const t = resource(doc, TRIGGER);
  assert.equal(t.name, "hello-keep-warm");
  assert.deepEqual(t.inputs.cron, { schedule: "*/10 8-18 * * 1-5", timezone: "Europe/Paris" });
  assert.deepEqual(t.inputs.destinationConfig, { httpMethod: "get", httpPath: "/health" });
  assert.equal(doc.posture.kind, "kept-warm");
  assert.equal(doc.posture.wakeUpsPerDay, 66);

  const again = await runCli(["plan", "hello", "--stack", "testing", "--json"]);
  assert.equal(again.stdout, first.stdout, "a second run in the same process gives the same plan");
  const production = await runCli(["plan", "hello", "--stack", "production", "--json"]);
  assert.equal(JSON.parse(production.stdout).stack, "production");
});

test("plan text output: resources, secrets as [secret], every stack's posture", async () => {
  const r = await runCli(["plan", "hello", "--stack", "testing"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Plan for hello, stack testing \(offline/);
  assert.match(r.stdout, /^posture: kept warm on a schedule: 66 wake-ups a day/m);
  assert.match(r.stdout, /\(stack production: always warm/);
  assert.match(r.stdout, /^\+ scaleway:containers\/trigger:Trigger hello-keep-warm$/m);
  assert.match(r.stdout, /^ {6}API_KEY: \[secret\]$/m);
  assert.match(r.stdout, /^3 resources would exist:$/m);
});

test("plan of the full fixture: private container, domain in production, trigger only where minScale is 0", async () => {
  const prod = await runCli(["plan", "api", "--stack", "production", "--json", "--root", FULL]);
  assert.equal(prod.code, 0, prod.stderr);
  const doc = JSON.parse(prod.stdout) as PlanDoc;
  assert.deepEqual(doc.resources.map((r) => r.type), [NAMESPACE, CONTAINER, DOMAIN]);
  assert.equal(resource(doc, CONTAINER).inputs.privacy, "private");
  assert.deepEqual(resource(doc, CONTAINER).inputs.secretEnvironmentVariables, { API_TOKEN: "[secret]", DB_PASSWORD: "[secret]", TOKEN_COPY: "[secret]" });
  assert.deepEqual(resource(doc, DOMAIN).inputs, { containerId: "[computed]", hostname: "api.example.com", region: "nl-ams" });
  assert.equal(doc.image, "rg.nl-ams.scw.cloud/acme/api:<content tag of the next push>");

  const staging = JSON.parse((await runCli(["plan", "api", "--stack", "staging", "--json", "--root", FULL])).stdout) as PlanDoc;
  assert.deepEqual(staging.resources.map((r) => r.type), [NAMESPACE, CONTAINER, TRIGGER]);
  assert.equal(resource(staging, TRIGGER).inputs.destinationConfig.httpPath, "/healthz");
});

test("plan: --stack may be left out when the service declares one stack", async () => {
  const r = await runCli(["plan", "tiny", "--json", "--root", MINIMAL]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as PlanDoc;
  assert.equal(doc.stack, "production");
  assert.equal(doc.image, "<registry>/tiny:<content tag of the next push>");
  assert.equal(doc.posture.kind, "scale-to-zero");
});

test("plan: usage errors for a missing or unknown stack name the declared ones", async () => {
  const missing = await runCli(["plan", "hello"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--stack is required: hello declares production, testing/);
  const unknown = await runCli(["plan", "hello", "--stack", "testin"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /hello has no stack 'testin'; did you mean 'testing'\?/);
  const noService = await runCli(["plan", "nope", "--stack", "testing"]);
  assert.equal(noService.code, 2);
});

test("plan: --image REF@sha256:DIGEST is the container's image and registrySha256", async () => {
  const digest = `sha256:${"c".repeat(64)}`;
  const ref = "rg.fr-par.scw.cloud/sanmarcsoft/hello:c-0123456789abcdef0123";
  const r = await runCli(["plan", "hello", "--stack", "production", "--json", "--image", `${ref}@${digest}`]);
  assert.equal(r.code, 0, r.stderr);
  const c = resource(JSON.parse(r.stdout), CONTAINER).inputs;
  assert.equal(c.image, ref);
  assert.equal(c.registrySha256, digest);
  const bad = await runCli(["plan", "hello", "--stack", "production", "--image", "a b"]);
  assert.equal(bad.code, 2);
});

test("plan: a stale or missing program is an error that says to run generate", async () => {
  const root = await makeRepo(minimalService("svc"));
  try {
    const missing = await runCli(["plan", "svc", "--stack", "production", "--root", root]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /services\/svc\/infra\/index\.ts does not exist.*run `npx nixway generate`/);

    const repo = await loadRepo(root);
    await writeFiles(root, Object.fromEntries(emitPulumi(repo.services[0], repo).map((f) => [f.path, f.content])));
    await writeFiles(root, { "services/svc/service.yaml": "name: svc\nport: 9000\napp:\n  entry: index.ts\n" });
    const stale = await runCli(["plan", "svc", "--stack", "production", "--root", root]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /services\/svc\/infra\/index\.ts is out of date with services\/svc\/service\.yaml.*npx nixway generate/);
  } finally {
    await removeRepo(root);
  }
});

test("plan: the image a deploy left in Pulumi.<stack>.yaml is planned when no --image is given", async () => {
  const root = await runnableRepo(minimalService("svc"));
  try {
    const repo = await loadRepo(root);
    await writeFiles(root, Object.fromEntries(emitPulumi(repo.services[0], repo).map((f) => [f.path, f.content])));
    const digest = `sha256:${"d".repeat(64)}`;
    writeFileSync(
      path.join(root, "services/svc/infra/Pulumi.testing.yaml"),
      `config:\n  svc:image: reg.example/ns/svc:c-aaaaaaaaaaaaaaaaaaaa\n  svc:imageDigest: ${digest}\n  svc:other:\n    secure: v1:abc\n`,
    );
    const r = await runCli(["plan", "svc", "--stack", "testing", "--json", "--root", root]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.imageSource, "stack-config");
    assert.equal(resource(doc, CONTAINER).inputs.image, "reg.example/ns/svc:c-aaaaaaaaaaaaaaaaaaaa");
    assert.equal(resource(doc, CONTAINER).inputs.registrySha256, digest);
  } finally {
    await removeRepo(root);
  }
});

test("mock runs: the program sees no credentials in its environment", async () => {
  const root = await runnableRepo({
    "env.mts":
      'import * as pulumi from "@pulumi/pulumi";\n' +
      'new pulumi.CustomResource("test:index:Env", "env", { keys: Object.keys(process.env).sort() });\n',
  });
  const saved = { ...process.env };
  Object.assign(process.env, { SCW_SECRET_KEY: "x", SCW_ACCESS_KEY: "x", AWS_SECRET_ACCESS_KEY: "x", PULUMI_ACCESS_TOKEN: "x", PULUMI_CONFIG: "{}" });
  try {
    const resources = await runProgramUnderMocks({ program: path.join(root, "env.mts"), project: "p", stack: "s", config: {}, secretKeys: [] }, 30_000);
    const keys = resources[0].inputs.keys as string[];
    assert.ok(keys.includes("PATH"));
    assert.deepEqual(keys.filter((k) => /^(SCW_|AWS_|PULUMI_)/.test(k)), []);
  } finally {
    for (const k of ["SCW_SECRET_KEY", "SCW_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await removeRepo(root);
  }
});

test("mock runs are bounded in time", async () => {
  const root = await runnableRepo({ "hang.mts": "setInterval(() => {}, 1000);\nawait new Promise(() => {});\n" });
  try {
    await assert.rejects(
      runProgramUnderMocks({ program: path.join(root, "hang.mts"), project: "p", stack: "s", config: {}, secretKeys: [] }, 3000),
      (err: Error) => err instanceof OperationError && /did not finish within 3 s/.test(err.message),
    );
  } finally {
    await removeRepo(root);
  }
});

test("mock runs: the generated program's own errors come back as operation errors", async () => {
  const program = path.join(REPO_ROOT, "services/hello/infra/index.ts");
  const config = { "hello:image": "i", "hello:imageDigest": "sha256:x", "hello:api-key": "k" };
  await assert.rejects(
    runProgramUnderMocks({ program, project: "hello", stack: "staging", config, secretKeys: ["hello:api-key"] }),
    (err: Error) =>
      err instanceof OperationError &&
      err.message.includes("stack 'staging' is not declared in services/hello/service.yaml (declared: production, testing)"),
  );
  await assert.rejects(
    runProgramUnderMocks({ program, project: "hello", stack: "production", config: { "hello:api-key": "k" }, secretKeys: [] }),
    (err: Error) => err instanceof OperationError && err.message.includes("stack config image and imageDigest not set for stack 'production': deploy with `npx nixway deploy hello --stack production`"),
  );
});

test("plan --archive: each layer's estimated compressed size and the total against imageSizeBudgetMB", async () => {
  const { buildTestImage } = await import("./helpers/archive.ts");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const dir = mkdtempSync(path.join(os.tmpdir(), "nixway-plan-archive-"));
  try {
    // 3 MB of incompressible runtime filler and a small app layer.
    const image = await buildTestImage({ file: path.join(dir, "image.tar"), runtimeBytes: 3_000_000, appBytes: 1000 });
    const r = await runCli(["plan", "hello", "--stack", "production", "--json", "--archive", image.file]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as PlanDoc & {
      imageSize: { architecture: string; layers: { id: string; sizeBytes: number; compressedBytes: number }[]; compressedBytes: number; withinBudget?: boolean };
    };
    assert.equal(doc.imageSize.architecture, "amd64");
    assert.deepEqual(
      doc.imageSize.layers.map((l) => l.id),
      image.diffIds,
    );
    assert.deepEqual(
      doc.imageSize.layers.map((l) => l.sizeBytes),
      image.layerSizes,
    );
    // Random filler does not compress: the estimate stays near its size; the total is the sum.
    const runtime = doc.imageSize.layers[0].compressedBytes;
    assert.ok(runtime > 3_000_000 && runtime < 3_100_000, `runtime layer estimate ${runtime}`);
    assert.equal(doc.imageSize.compressedBytes, doc.imageSize.layers.reduce((a, l) => a + l.compressedBytes, 0));
    assert.equal(doc.imageSize.withinBudget, undefined, "hello sets no imageSizeBudgetMB");
    const text = await runCli(["plan", "hello", "--stack", "production", "--archive", image.file]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /image size: about 3\.\d MB compressed in 2 layers \(no imageSizeBudgetMB set\)/);
    assert.match(text.stdout, /layer  1 +3\.\d MB compressed +3\.\d MB in archive +sha256:[0-9a-f]{12}\n  layer  2 +[\d.]+ kB compressed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("plan --archive: an image over imageSizeBudgetMB is flagged before any push", async () => {
  const { buildTestImage } = await import("./helpers/archive.ts");
  const root = await runnableRepo(minimalService("svc", "name: svc\nport: 8080\nimageSizeBudgetMB: 1\napp:\n  entry: index.ts\nstacks:\n  testing: {}\n"));
  try {
    const repo = await loadRepo(root);
    await writeFiles(root, Object.fromEntries(emitPulumi(repo.services[0], repo).map((f) => [f.path, f.content])));
    const image = await buildTestImage({ file: path.join(root, "image.tar"), runtimeBytes: 2_000_000 });
    const r = await runCli(["plan", "svc", "--json", "--archive", image.file, "--root", root]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { imageSize: { budgetMB: number; withinBudget: boolean; compressedBytes: number } };
    assert.equal(doc.imageSize.budgetMB, 1);
    assert.equal(doc.imageSize.withinBudget, false);
    assert.ok(doc.imageSize.compressedBytes > 1_000_000);
    const text = await runCli(["plan", "svc", "--archive", image.file, "--root", root]);
    assert.match(text.stdout, /\(OVER imageSizeBudgetMB 1: push will refuse it\)/);
  } finally {
    await removeRepo(root);
  }
});
