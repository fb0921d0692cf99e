// `nixway status` end to end: the real CLI, the real @scaleway/sdk client, and the replay server serving
// recorded API traffic.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadService } from "../generator/repo.ts";
import { createScalewayApi } from "../generator/scaleway/api.ts";
import { ago, formatStatus, readStatus } from "../generator/status.ts";
import { REPO_ROOT, runCli } from "./helpers/nixway-cli.ts";
import { fakeCredentials, recordedContainers, replayConfig, startReplayServer, type ReplayServer } from "./helpers/replay-server.ts";
import { makeRepo, removeRepo } from "./helpers/temp-repo.ts";

const HELLO_YAML = readFileSync(path.join(REPO_ROOT, "services/hello/service.yaml"), "utf8");
const HELLO_APP = readFileSync(path.join(REPO_ROOT, "services/hello/app/index.ts"), "utf8");
const SCW_VARS = ["SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_PROJECT_ID", "SCW_DEFAULT_REGION", "SCW_API_URL"];

let root: string;
let server: ReplayServer;
const creds = fakeCredentials();
const saved: Record<string, string | undefined> = {};

before(async () => {
  root = await makeRepo({
    "nixway.yaml": "region: fr-par\nregistryNamespace: sanmarcsoft\n",
    "services/hello/service.yaml": HELLO_YAML,
    "services/hello/app/index.ts": HELLO_APP,
  });
  server = await startReplayServer({ cassettes: ["container-basic"], secretKey: creds.secretKey, endBeforeTeardown: true });
  for (const v of SCW_VARS) saved[v] = process.env[v];
});
after(async () => {
  for (const v of SCW_VARS) {
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  }
  await server.close();
  await removeRepo(root);
});

function useReplay(secret = creds.secretKey): void {
  Object.assign(process.env, { SCW_ACCESS_KEY: creds.accessKey, SCW_SECRET_KEY: secret, SCW_DEFAULT_PROJECT_ID: creds.projectId, SCW_API_URL: server.url });
  delete process.env.SCW_DEFAULT_REGION;
}

describe("nixway status", () => {
  const failed = recordedContainers("container-basic").at(-1)!;

  test("--json reports status, error_message, endpoint, image, scales, updated_at and the namespace", async () => {
    useReplay();
    const r = await runCli(["status", "hello", "--stack", "testing", "--container-id", failed.id, "--json", "--root", root]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const report = JSON.parse(r.stdout);
    assert.equal(report.service, "hello");
    assert.equal(report.stack, "testing");
    assert.equal(report.region, "fr-par");
    // The first GET of the container replays its first recorded state.
    assert.equal(report.container.id, failed.id);
    assert.equal(report.container.name, "my-container-tf");
    assert.equal(report.container.status, failed.statuses[0]);
    assert.equal(report.container.image, "rg.fr-par.scw.cloud/funcscwtfnsvigilantborgzyuuwlcg/my-container-tf:latest");
    assert.equal(report.container.url, "https://tfnsvigilantborgzyuuwlcg-my-container-tf.functions.fnc.fr-par.scw.cloud");
    assert.equal(typeof report.container.minScale, "number");
    assert.equal(typeof report.container.maxScale, "number");
    assert.equal(report.container.updatedAt, "2025-10-31T16:32:00.777Z");
    assert.equal(report.namespace.name, "tf-ns-vigilant-borg");
    assert.equal(report.namespace.status, "pending", "the namespace's first recorded state");
  });

  test("later reads walk the recording to its error, shown with the API's message", async () => {
    useReplay();
    let last = "";
    for (let i = 0; i < 12; i++) {
      const r = await runCli(["status", "hello", "--stack", "testing", "--container-id", failed.id, "--root", root]);
      assert.equal(r.code, 0, r.stderr);
      last = r.stdout;
      if (/status\s+error/.test(last)) break;
    }
    assert.match(last, /^hello on stack testing \(fr-par\)\n/);
    assert.match(last, /\n  status +error\n/);
    assert.match(last, /\n  error_message +Image was not found in container registry\.\n/);
    assert.match(last, /\n  url +https:\/\/tfnsvigilantborgzyuuwlcg-my-container-tf\.functions\.fnc\.fr-par\.scw\.cloud\n/);
    assert.match(last, /\n  updated_at +2025-10-31T16:32:22\.200Z \(/);
    assert.match(last, /\n  namespace +tf-ns-vigilant-borg \(3e441832-fa3b-427d-9c1e-c58654d59437\): ready\n/);
  });

  test("a service never deployed on the stack says how to deploy it (exit 1)", async () => {
    useReplay();
    const r = await runCli(["status", "hello", "--stack", "production", "--root", root]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /no container namespace 'hello-production' in fr-par: 'hello' has not been deployed to stack 'production'.*npx nixway deploy hello --stack production --archive PATH/);
  });

  test("an undeclared stack is a usage error (exit 2)", async () => {
    useReplay();
    const r = await runCli(["status", "hello", "--stack", "staging", "--root", root]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /service 'hello' has no stack 'staging' \(declared: production, testing\)/);
  });

  test("--stack is required (exit 2)", async () => {
    const r = await runCli(["status", "hello", "--root", root]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--stack STACK is required/);
  });

  test("missing or malformed credentials are listed at once, and the secret is never printed", async () => {
    useReplay("not-a-uuid-but-a-secret-canary");
    delete process.env.SCW_ACCESS_KEY;
    const r = await runCli(["status", "hello", "--stack", "testing", "--root", root]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SCW_ACCESS_KEY is not set/);
    assert.match(r.stderr, /secret key is not in the expected format/);
    assert.ok(!r.stderr.includes("secret-canary") && !r.stdout.includes("secret-canary"));
  });

  test("a wrong secret is refused by the API with advice", async () => {
    useReplay(fakeCredentials().secretKey);
    const r = await runCli(["status", "hello", "--stack", "testing", "--container-id", failed.id, "--root", root]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Scaleway API refused .* \(401\): check SCW_ACCESS_KEY and SCW_SECRET_KEY/);
  });
});

describe("finding the container by name", () => {
  test("asks for namespace <service>-<stack>, then container <service> in it", async () => {
    const s = await startReplayServer({ cassettes: ["container-with-img"], endBeforeTeardown: true });
    const repo = await makeRepo({ "services/hello/service.yaml": HELLO_YAML, "services/hello/app/index.ts": HELLO_APP });
    try {
      const real = createScalewayApi(replayConfig(s));
      const asked: string[] = [];
      // The recording's names are tf-style (test-cr-ns-02 / my-container-02); answer the names nixway
      // asks for with the recorded pair, and record what was asked.
      const api = {
        ...real,
        findNamespace: async (name: string) => (asked.push(`namespace ${name}`), real.findNamespace("test-cr-ns-02")),
        findContainer: async (id: string, name: string) => (asked.push(`container ${name} in ${id}`), real.findContainer(id, "my-container-02")),
      };
      const { service } = await loadService(repo, "hello");
      const report = await readStatus(api, service, "production");
      assert.deepEqual(asked, ["namespace hello-production", "container hello in 592f093b-d702-4c48-b46f-931ae1549f0c"]);
      assert.equal(report.container.id, "d6aac6a2-2ebb-4bf7-907f-2e325336773e");
      assert.equal(report.container.image, "nginx:latest");
      assert.match(formatStatus(report), /\n  scale +min 3, max 5\n/);
      assert.deepEqual(s.unmatched(), []);
      assert.ok(s.requests.some((r) => r.answeredBy === "list" && r.path.endsWith("/namespaces") && r.query.includes("name=test-cr-ns-02")));
    } finally {
      await s.close();
      await removeRepo(repo);
    }
  });

  test("ago() gives people a relative time", () => {
    assert.equal(ago("2025-01-01T00:00:00.000Z", new Date("2025-01-01T00:03:20Z")), "2025-01-01T00:00:00.000Z (3m 20s ago)");
    assert.equal(ago(null, new Date()), "unknown");
  });
});
