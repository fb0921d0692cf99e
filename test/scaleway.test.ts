// The Scaleway API module against real recorded API traffic, through the real @scaleway/sdk client.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { OperationError } from "../generator/diagnostics.ts";
import { createScalewayApi, WaitTimeoutError, type ContainerInfo } from "../generator/scaleway/api.ts";
import { fakeCredentials, loadCassette, recordedContainers, recordedNamespace, replayConfig, startReplayServer, type ReplayServer } from "./helpers/replay-server.ts";

const fast = { minDelayMs: 1, maxDelayMs: 2, timeoutMs: 5_000 };

const configFor = replayConfig;

describe("status sequences replayed from the recordings", () => {
  const cases: { cassette: string; final: "ready" | "error" }[] = [
    { cassette: "container-basic", final: "error" },
    { cassette: "container-health-check", final: "error" },
    { cassette: "container-with-img", final: "ready" },
    { cassette: "domain-basic", final: "ready" },
  ];
  for (const { cassette, final } of cases) {
    test(`${cassette}: found by name, waited on, ends ${final} as recorded`, async () => {
      const creds = fakeCredentials();
      const server = await startReplayServer({ cassettes: [cassette], secretKey: creds.secretKey, endBeforeTeardown: true });
      try {
        const api = createScalewayApi(configFor(server, creds));
        const ns = recordedNamespace(cassette);
        // The last container the recording deploys is the one whose fate it records.
        const recorded = recordedContainers(cassette).at(-1)!;
        const namespace = await api.findNamespace(ns.name);
        assert.equal(namespace?.id, ns.id);
        const found = await api.findContainer(ns.id, recorded.name);
        assert.equal(found?.id, recorded.id);
        const seen: string[] = [];
        const done = await api.waitForContainer(recorded.id, { ...fast, onPoll: (c) => seen.push(c.status) });
        assert.equal(done.status, final);
        assert.equal(done.status, recorded.statuses.at(-1), "the wait ends where the recording ends");
        // It walked through the recorded transient statuses, in order.
        assert.deepEqual(seen, recorded.statuses.slice(0, seen.length));
        assert.ok(seen.length >= 2, `polled through transient states: ${seen.join(" -> ")}`);
        if (final === "error") assert.equal(done.errorMessage, "Image was not found in container registry.");
        else assert.equal(done.errorMessage, undefined);
        assert.match(done.endpoint, /\.functions\.fnc\.fr-par\.scw\.cloud$/);
        assert.deepEqual(server.unmatched(), []);
        assert.ok(server.requests.every((r) => r.authToken === creds.secretKey), "every call carries the secret as X-Auth-Token");
      } finally {
        await server.close();
      }
    });
  }

  test("a container that never leaves 'created' (cron-basic) times out with advice", async () => {
    const server = await startReplayServer({ cassettes: ["cron-basic"], endBeforeTeardown: true });
    try {
      const api = createScalewayApi(configFor(server));
      const c = recordedContainers("cron-basic")[0];
      await assert.rejects(api.waitForContainer(c.id, { minDelayMs: 1, maxDelayMs: 1, timeoutMs: 30 }), (err: unknown) => {
        assert.ok(err instanceof WaitTimeoutError);
        assert.equal(err.last.status, "created");
        assert.match(err.message, /never deployed.*--redeploy/);
        return true;
      });
    } finally {
      await server.close();
    }
  });
});

describe("API module", () => {
  let server: ReplayServer;
  const creds = fakeCredentials();
  before(async () => {
    server = await startReplayServer({ cassettes: ["container-basic"], secretKey: creds.secretKey, endBeforeTeardown: true });
  });
  after(() => server.close());

  test("maps the v1beta1 container into nixway's own shape", async () => {
    const api = createScalewayApi(configFor(server, creds));
    const [, second] = recordedContainers("container-basic");
    const c: ContainerInfo = await api.getContainer(second.id);
    assert.equal(c.name, "my-container-tf");
    assert.equal(c.image, "rg.fr-par.scw.cloud/funcscwtfnsvigilantborgzyuuwlcg/my-container-tf:latest");
    assert.equal(c.port, 8080);
    assert.equal(typeof c.memoryLimitMB, "number");
    assert.ok(c.updatedAt instanceof Date);
  });

  test("an unknown name finds nothing", async () => {
    const api = createScalewayApi(configFor(server, creds));
    assert.equal(await api.findNamespace("no-such-namespace"), undefined);
    const ns = recordedNamespace("container-basic");
    assert.equal(await api.findContainer(ns.id, "no-such-container"), undefined);
  });

  test("a wrong secret is refused with advice, and the secret is not in the message", async () => {
    const wrong = fakeCredentials();
    const api = createScalewayApi(configFor(server, wrong));
    await assert.rejects(api.findNamespace("x"), (err: unknown) => {
      assert.ok(err instanceof OperationError);
      assert.match(err.message, /401.*SCW_ACCESS_KEY and SCW_SECRET_KEY/);
      assert.ok(!err.message.includes(wrong.secretKey));
      return true;
    });
  });

  test("an unreachable API says so", async () => {
    const closed = await startReplayServer({ cassettes: [] });
    await closed.close();
    const api = createScalewayApi(configFor(closed));
    await assert.rejects(api.getContainer("3fdd2d2c-decd-465e-a84e-4fa2c19ee92d"), /cannot reach the Scaleway API at http:\/\/127\.0\.0\.1:\d+/);
  });
});

describe("redeploy", () => {
  test("409 transient_state is retried until the API accepts", async () => {
    const c = recordedContainers("container-with-img")[0];
    const transient = { type: "transient_state", message: "resource is in a transient state", resource: "container", resource_id: c.id, current_state: "pending" };
    // The accepted answer is the container as the recording shows it right after a change (status pending).
    const accepted = JSON.parse(loadCassette("container-with-img").find((i) => i.request.method === "PATCH")!.response.body);
    const server = await startReplayServer({
      cassettes: ["container-with-img"],
      faults: [
        { method: "POST", path: `/containers/${c.id}/deploy`, times: 2, status: 409, body: transient },
        { method: "POST", path: `/containers/${c.id}/deploy`, times: 1, status: 200, body: accepted },
      ],
    });
    try {
      const api = createScalewayApi(configFor(server));
      const sleeps: number[] = [];
      const out = await api.redeploy(c.id, { delayMs: 7, sleep: async (ms) => void sleeps.push(ms) });
      assert.equal(out.status, "pending");
      assert.deepEqual(sleeps, [7, 7]);
      assert.equal(server.requests.filter((r) => r.path.endsWith("/deploy")).length, 3);
    } finally {
      await server.close();
    }
  });

  test("gives up after the bounded number of attempts", async () => {
    const c = recordedContainers("container-with-img")[0];
    const transient = { type: "transient_state", message: "resource is in a transient state", resource: "container", resource_id: c.id, current_state: "pending" };
    const server = await startReplayServer({ cassettes: [], faults: [{ method: "POST", path: "/deploy", times: 99, status: 409, body: transient }] });
    try {
      const api = createScalewayApi(configFor(server));
      await assert.rejects(api.redeploy(c.id, { attempts: 3, sleep: async () => {} }), /transient state through 3 deploy attempts/);
      assert.equal(server.requests.length, 3);
    } finally {
      await server.close();
    }
  });
});
