// `nixway diagnose`: one test per runbook cause, each producing the cause for real where this machine
// can (recorded API traffic through the real SDK client, a real registry, real image archives, real bun
// runs through the smoke check) and asserting the verdict and the fix.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  classifyErrorMessage,
  diagnose,
  failing,
  formatDiagnosis,
  PLATFORM_INTERNAL_ERROR,
  registryProbes,
  runDiagnosis,
  scanApp,
  splitImageRef,
  type Cause,
  type CauseId,
  type Diagnosis,
  type DiagnoseProbes,
} from "../generator/diagnose.ts";
import { run } from "../generator/proc.ts";
import { withRegistryAuth } from "../generator/registry/auth.ts";
import { loadService } from "../generator/repo.ts";
import { createScalewayApi, type ContainerInfo, type ScalewayApi } from "../generator/scaleway/api.ts";
import { Secret } from "../generator/secret.ts";
import type { Located } from "../generator/status.ts";
import { buildTestImage } from "./helpers/archive.ts";
import { REPO_ROOT, runCli } from "./helpers/nixway-cli.ts";
import { freePort, startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { fakeCredentials, recordedContainers, replayConfig, startReplayServer, type ReplayServer } from "./helpers/replay-server.ts";
import { buildBunImage } from "./helpers/rootfs-archive.ts";
import { makeRepo, removeRepo } from "./helpers/temp-repo.ts";

const HELLO_APP = readFileSync(path.join(REPO_ROOT, "services/hello/app/index.ts"), "utf8");

const tmp = mkdtempSync(path.join(os.tmpdir(), "nixway-diagnose-test-"));
const repos: string[] = [];
after(async () => {
  for (const r of repos) await removeRepo(r);
  rmSync(tmp, { recursive: true, force: true });
});

async function repoWith(yaml: string, app = HELLO_APP, extra: Record<string, string> = {}): Promise<{ root: string; service: Awaited<ReturnType<typeof loadService>>["service"] }> {
  const name = /^name: (\S+)/m.exec(yaml)![1];
  const root = await makeRepo({ [`services/${name}/service.yaml`]: yaml, [`services/${name}/app/index.ts`]: app, ...extra });
  repos.push(root);
  return { root, service: (await loadService(root, name)).service };
}

/** The final recorded state of the container a cassette deploys (the replay walked to the end). */
async function recordedFinalState(server: ReplayServer, cassette: string): Promise<{ api: ScalewayApi; located: Located }> {
  const api = createScalewayApi(replayConfig(server));
  const c = recordedContainers(cassette).at(-1)!;
  const container = await api.waitForContainer(c.id, { minDelayMs: 1, maxDelayMs: 1, timeoutMs: 5_000 });
  return { api, located: { container, namespace: await api.getNamespace(container.namespaceId) } };
}

const noNetwork: Pick<DiagnoseProbes, "resolveCname" | "fetch"> = {
  resolveCname: async () => {
    throw Object.assign(new Error("no DNS in this test"), { code: "ENOTFOUND" });
  },
  fetch: (async () => {
    throw new Error("no network in this test");
  }) as typeof fetch,
};

function causeOf(d: Diagnosis, id: CauseId): Cause {
  const c = d.causes.find((x) => x.id === id);
  assert.ok(c, `diagnosis has ${id}: ${JSON.stringify(d.causes.map((x) => x.id))}`);
  return c;
}

const HELLO_YAML = (port = 8080, extra = "") => `name: hello\nport: ${port}\nmemoryLimit: 256\napp:\n  entry: index.ts\nhealthCheck:\n  path: /health\n${extra}`;

describe("error_message mapping", () => {
  test("the API's real messages map to causes; unknown ones are kept verbatim", () => {
    assert.equal(classifyErrorMessage("Image was not found in container registry."), "image-not-found");
    assert.equal(classifyErrorMessage(PLATFORM_INTERNAL_ERROR), "platform-error");
    assert.equal(classifyErrorMessage("container is not listening on port 8080"), "port-mismatch");
    assert.equal(classifyErrorMessage("HTTP probe failed on path /health"), "health-check");
    assert.equal(classifyErrorMessage("something entirely new happened"), undefined);
  });

  test("the recorded 'Image was not found in container registry.' gives image-not-found, through the real SDK", async () => {
    const server = await startReplayServer({ cassettes: ["container-health-check"], endBeforeTeardown: true });
    try {
      const { api, located } = await recordedFinalState(server, "container-health-check");
      assert.equal(located.container!.status, "error");
      const { root, service } = await repoWith(HELLO_YAML());
      const d = await runDiagnosis({ api, service, stack: "production", root, registry: "rg.fr-par.scw.cloud/sanmarcsoft", located, smoke: false, probes: { ...noNetwork } });
      assert.equal(d.status, "error");
      assert.equal(d.errorMessage, "Image was not found in container registry.");
      const c = causeOf(d, "image-not-found");
      assert.equal(c.ok, false);
      assert.match(c.detail, /the platform says: "Image was not found in container registry\."/);
      assert.match(c.fix!, /^npx nixway push hello --archive PATH --tag latest, then npx nixway deploy hello --stack production --archive PATH/);
      // No other cause is claimed without evidence.
      assert.deepEqual(failing(d).map((x) => x.id), ["image-not-found"]);
      assert.equal(d.causes.some((x) => x.id === "error-message" || x.id === "platform-error"), false);
      assert.deepEqual(server.unmatched(), []);
    } finally {
      await server.close();
    }
  });

  test("the platform's internal error gives retry advice; an unknown message is shown verbatim", async () => {
    const server = await startReplayServer({ cassettes: ["container-basic"], endBeforeTeardown: true });
    try {
      const { located } = await recordedFinalState(server, "container-basic");
      const { root, service } = await repoWith(HELLO_YAML(5000));
      const ctx = { service, stack: "production", root, registry: undefined, archive: undefined, namespace: located.namespace, domains: undefined };
      const probes: DiagnoseProbes = { ...noNetwork, now: () => new Date() };
      // These wordings are not in the recordings: the recorded container with its message replaced.
      const internal = await diagnose({ ...ctx, container: { ...located.container!, errorMessage: PLATFORM_INTERNAL_ERROR } }, probes);
      const p = causeOf(internal, "platform-error");
      assert.equal(p.ok, false);
      assert.match(p.fix!, /deploy again \(npx nixway deploy hello --stack production --archive PATH --redeploy\).*status\.scaleway\.com.*support/);
      assert.equal(causeOf(internal, "image-not-found").ok, null);

      const odd = "The flux capacitor overheated (code 88).";
      const unknown = await diagnose({ ...ctx, container: { ...located.container!, errorMessage: odd } }, probes);
      const u = causeOf(unknown, "error-message");
      assert.equal(u.ok, false);
      assert.equal(u.detail, odd);
      assert.equal(unknown.causes[0].id, "error-message");
      assert.match(formatDiagnosis(unknown), /FAIL error-message +The flux capacitor overheated \(code 88\)\./);
    } finally {
      await server.close();
    }
  });
});

describe("image-not-found against a real registry", () => {
  let registry: TestRegistry;
  let server: ReplayServer;
  const RECORDED = "rg.fr-par.scw.cloud/funcscwtfnsvigilantborgzyuuwlcg";
  before(async () => {
    registry = await startRegistry();
    server = await startReplayServer({ cassettes: ["container-basic"], endBeforeTeardown: true });
  });
  after(async () => {
    await server.close();
    await registry.stop();
  });

  test("the container's image is absent from the registry: re-push; once pushed: redeploy", async () => {
    const { api, located } = await recordedFinalState(server, "container-basic");
    assert.equal(located.container!.image, `${RECORDED}/my-container-tf:latest`);
    const { root, service } = await repoWith(HELLO_YAML(5000));
    // The recording's registry host is Scaleway's; the same namespace/name/tag is looked up in the local registry.
    const local = { registry: `${registry.host}/funcscwtfnsvigilantborgzyuuwlcg`, secret: new Secret(registry.password), certDir: registry.certDir };
    const real = registryProbes(local, located.container);
    const probes = { ...noNetwork, registryDigest: (ref: string) => real.registryDigest!(ref.replace("rg.fr-par.scw.cloud", registry.host)) };
    const opts = { api, service, stack: "testing", root, registry: RECORDED, located, smoke: false, probes };

    const before = causeOf(await runDiagnosis(opts), "image-not-found");
    assert.equal(before.ok, false);
    assert.match(before.detail, /the container runs rg\.fr-par\.scw\.cloud\/funcscwtfnsvigilantborgzyuuwlcg\/my-container-tf:latest, and the registry holds no such image \(the platform says: "Image was not found in container registry\."\)/);
    assert.match(before.fix!, /^npx nixway push hello --archive PATH --tag latest, then npx nixway deploy hello --stack testing --archive PATH/);

    // Push that reference for real (skopeo, credentials in an auth file), then diagnose again.
    // An arm64 image, as a push by hand (not nixway's, which refuses it) would leave there.
    const image = await buildTestImage({ file: path.join(tmp, "pushed.tar"), exposedPorts: ["5000/tcp"], architecture: "arm64" });
    await withRegistryAuth(registry.host, new Secret(registry.password), async (auth) => {
      const r = await run(["skopeo", "copy", "--authfile", auth.authFile, "--dest-cert-dir", registry.certDir, `docker-archive:${image.file}`, `docker://${registry.host}/funcscwtfnsvigilantborgzyuuwlcg/my-container-tf:latest`], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
    });
    const after = causeOf(await runDiagnosis(opts), "image-not-found");
    assert.equal(after.ok, false, "the container still failed: it must pull again");
    assert.match(after.detail, /but the registry now holds .*my-container-tf:latest \(sha256:[0-9a-f]{64}\): it was pushed after the deploy tried to pull it/);
    assert.match(after.fix!, /deploy again so the platform pulls it: npx nixway deploy hello --stack testing --archive PATH --redeploy/);

    // Without an archive at hand, the image's config comes from the registry: its architecture is wrong.
    const onLocal = { ...located.container!, image: located.container!.image.replace("rg.fr-par.scw.cloud", registry.host) };
    const facts = registryProbes(local, onLocal).imageFacts!;
    const d = await runDiagnosis({ ...opts, probes: { ...probes, imageFacts: facts } });
    const arch = causeOf(d, "architecture");
    assert.equal(arch.ok, false);
    assert.match(arch.detail, new RegExp(`^the image \\(registry ${registry.host.replaceAll(".", "\\.")}/funcscwtfnsvigilantborgzyuuwlcg/my-container-tf:latest\\) is built for linux/arm64; Scaleway runs amd64 only$`));
    assert.equal(causeOf(d, "port-mismatch").ok, true, "the registry's config exposes 5000/tcp, as configured");
  });

  test("a reference outside nixway's registry is not guessed at", () => {
    assert.deepEqual(splitImageRef(`${RECORDED}/my-container-tf:latest`, RECORDED), { service: "my-container-tf", tag: "latest" });
    assert.equal(splitImageRef("nginx:latest", RECORDED), undefined);
  });
});

describe("port-mismatch", () => {
  test("the image exposes another port than the service is configured for", async () => {
    const image = await buildTestImage({ file: path.join(tmp, "port-3000.tar"), exposedPorts: ["3000/tcp"] });
    const { root, service } = await repoWith(HELLO_YAML(8080));
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: image.file, located: {}, smoke: false, probes: noNetwork });
    const c = causeOf(d, "port-mismatch");
    assert.equal(c.ok, false);
    assert.match(c.detail, /the image \(archive .*port-3000\.tar\) exposes 3000\/tcp, the service is configured for 8080/);
    assert.match(c.fix!, /make the app listen on \$PORT \(8080\) at 0\.0\.0\.0, or set port: in services\/hello\/service\.yaml/);
  });

  test("the app listens on another port than $PORT (a real bun run)", async () => {
    const [port, other] = [await freePort(), await freePort()];
    const app = `Bun.serve({ hostname: "0.0.0.0", port: ${other}, fetch: () => new Response("ok") });\n`;
    const { root, service } = await repoWith(HELLO_YAML(port), app);
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, located: {}, smokeTimeoutMs: 5_000, probes: noNetwork });
    const c = causeOf(d, "port-mismatch");
    assert.equal(c.ok, false, c.detail);
    assert.match(c.detail, new RegExp(`^local smoke run: .*${other}`));
    assert.match(c.fix!, new RegExp(`listen on \\$PORT \\(${port}\\)`));
  });

  test("the image itself, run locally (smoke with --archive), listens on another port", async () => {
    const [port, other] = [await freePort(), await freePort()];
    const app = `Bun.serve({ hostname: "0.0.0.0", port: ${other}, fetch: () => new Response("ok") });\n`;
    // The image (shaped like a Nix one, with the real bun) exposes 8080/tcp.
    const image = await buildBunImage(path.join(tmp, "wrong-port-image.tar"), app);
    const { root, service } = await repoWith(`name: hello\nport: ${port}\napp:\n  entry: index.ts\n`, app);
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: image.file, located: {}, smokeTimeoutMs: 5_000, probes: noNetwork });
    const c = causeOf(d, "port-mismatch");
    assert.equal(c.ok, false, c.detail);
    assert.match(c.detail, new RegExp(`exposes 8080/tcp, the service is configured for ${port}; local smoke run: .*${other}`));
    // The same image's entrypoint is fine: bun is there and started.
    assert.equal(causeOf(d, "entrypoint-crash").ok, true);
  });

  test("the container runs with another port than service.yaml says (recorded PATCH to 5000)", async () => {
    const server = await startReplayServer({ cassettes: ["container-basic"], endBeforeTeardown: true });
    try {
      const { api, located } = await recordedFinalState(server, "container-basic");
      const { root, service } = await repoWith(HELLO_YAML(8080));
      const d = await runDiagnosis({ api, service, stack: "production", root, registry: undefined, located, smoke: false, probes: noNetwork });
      const c = causeOf(d, "port-mismatch");
      assert.equal(c.ok, false);
      assert.equal(c.detail, "the container is configured for port 5000, services/hello/service.yaml says 8080: the last deploy did not apply");
      assert.equal(c.fix, "deploy again: npx nixway deploy hello --stack production --archive PATH");
    } finally {
      await server.close();
    }
  });
});

describe("entrypoint-crash", () => {
  test("Cmd runs /usr/bin/env bun: the runbook's 'bun: not found'", async () => {
    const image = await buildTestImage({ file: path.join(tmp, "env-bun.tar"), cmd: ["/usr/bin/env", "bun", "/app/index.ts"] });
    const { root, service } = await repoWith(HELLO_YAML());
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: image.file, located: {}, smoke: false, probes: noNetwork });
    const c = causeOf(d, "entrypoint-crash");
    assert.equal(c.ok, false);
    assert.match(c.detail, /the image's command starts with \/usr\/bin\/env bun: the runbook's "bun: not found" crash/);
    assert.match(c.fix!, /Cmd = \[ "\$\{pkgs\.bun\}\/bin\/bun" "\$\{appFiles\}\/app\/index\.ts" \]/);
  });

  test("Cmd's binary is absent from the image's layers", async () => {
    const image = await buildTestImage({ file: path.join(tmp, "no-bun.tar"), cmd: ["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bun-1.4.5/bin/bun", "/app/index.ts"] });
    const { root, service } = await repoWith(HELLO_YAML());
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: image.file, located: {}, smoke: false, probes: noNetwork });
    const c = causeOf(d, "entrypoint-crash");
    assert.equal(c.ok, false);
    assert.match(c.detail, /runs \/nix\/store\/a{32}-bun-1\.4\.5\/bin\/bun, which is not in the image$/);
  });

  test("an app entry with #!/usr/bin/env bun that the image runs directly", async () => {
    const image = await buildTestImage({ file: path.join(tmp, "shebang.tar"), cmd: ["/app/index.ts"] });
    const { root, service } = await repoWith(HELLO_YAML(), `#!/usr/bin/env bun\n${HELLO_APP}`);
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: image.file, located: {}, smoke: false, probes: noNetwork });
    const c = causeOf(d, "entrypoint-crash");
    assert.equal(c.ok, false);
    // /app/index.ts is in the image (so that check passes); the shebang is what crashes.
    assert.match(c.detail, /the image runs services\/hello\/app\/index\.ts directly, and its first line is #!\/usr\/bin\/env bun/);
    assert.deepEqual(scanApp(root, service).envBunShebangs, ["services/hello/app/index.ts"]);
  });

  test("a Nix-shaped image whose Entrypoint is bun (through a /bin symlink) passes", async () => {
    const image = await buildBunImage(path.join(tmp, "bun-image.tar"), HELLO_APP);
    const { root, service } = await repoWith(HELLO_YAML(), `#!/usr/bin/env bun\n${HELLO_APP}`);
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: image.file, located: {}, smoke: false, probes: noNetwork });
    const c = causeOf(d, "entrypoint-crash");
    assert.equal(c.ok, true, c.detail);
    assert.match(c.detail, /\/bin\/bun is in the image; services\/hello\/app\/index\.ts starts with #!\/usr\/bin\/env bun \(harmless while the Cmd runs bun explicitly\)/);
  });
});

describe("architecture", () => {
  test("an arm64 image is refused with the x86_64-linux build command", async () => {
    // gzip-compressed, as the flake apps hand over buildLayeredImage's .tar.gz.
    const image = await buildTestImage({ file: path.join(tmp, "arm64.tar.gz"), architecture: "arm64", gzip: true });
    const { root, service } = await repoWith(HELLO_YAML());
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: image.file, located: {}, smoke: false, probes: noNetwork });
    const c = causeOf(d, "architecture");
    assert.equal(c.ok, false);
    assert.match(c.detail, /is built for linux\/arm64; Scaleway runs amd64 only/);
    assert.match(c.fix!, /nix build \.#packages\.x86_64-linux\.hello-image/);
    const amd = await buildTestImage({ file: path.join(tmp, "amd64.tar") });
    const ok = await runDiagnosis({ service, stack: "production", root, registry: undefined, archive: amd.file, located: {}, smoke: false, probes: noNetwork });
    assert.equal(causeOf(ok, "architecture").ok, true);
  });
});

describe("memory-limit", () => {
  test("an app that allocates past the stack's memoryLimit at startup (a real bun run)", async () => {
    const app = [
      "const hog: Uint8Array[] = [];",
      "for (let i = 0; i < 40; i++) { const b = new Uint8Array(8 * 1024 * 1024); b.fill(i + 1); hog.push(b); }",
      `Bun.serve({ hostname: "0.0.0.0", port: Number(process.env.PORT), fetch: () => new Response(String(hog.length)) });`,
      "",
    ].join("\n");
    const { root, service } = await repoWith(`name: hog\nport: ${await freePort()}\nmemoryLimit: 128\napp:\n  entry: index.ts\nstacks:\n  testing: {}\n`, app);
    const d = await runDiagnosis({ service, stack: "testing", root, registry: undefined, located: {}, probes: noNetwork });
    const c = causeOf(d, "memory-limit");
    assert.equal(c.ok, false, c.detail);
    assert.match(c.detail, /^local smoke run: /);
    assert.match(c.fix!, /raise memoryLimit for this stack \(stacks\.testing\.memoryLimit in services\/hog\/service\.yaml, now 128 MB\)/);
  });
});

describe("missing-env", () => {
  test("a variable the app reads without a fallback that no stack sets", async () => {
    const app = `const db = process.env.DATABASE_URL;\nconst token = Bun.env["API_TOKEN"];\nconst greeting = process.env.GREETING ?? "hi";\nconst port = Number(process.env.PORT);\nconsole.log(db, token, greeting, port);\n`;
    const { root, service } = await repoWith(HELLO_YAML(8080, "secretEnvironmentVariables:\n  API_TOKEN: api-token\n"), app);
    const d = await runDiagnosis({ service, stack: "production", root, registry: undefined, located: {}, smoke: false, probes: noNetwork });
    const c = causeOf(d, "missing-env");
    assert.equal(c.ok, false);
    assert.equal(c.detail, "the app reads DATABASE_URL (services/hello/app/index.ts:1) without a fallback, and it is not set for stack production");
    assert.match(c.fix!, /^add DATABASE_URL to environmentVariables in services\/hello\/service\.yaml \(stacks\.production\.environmentVariables for this stack only\), or for secrets to secretEnvironmentVariables and set them with 'pulumi config set --secret KEY --stack production'/);
  });

  test("set through service.yaml, the container or the namespace counts as set", async () => {
    const app = `console.log(process.env.NODE_ENV, process.env.foo);\n`;
    const server = await startReplayServer({ cassettes: ["container-with-img"], endBeforeTeardown: true });
    try {
      const { api, located } = await recordedFinalState(server, "container-with-img");
      assert.deepEqual(located.container!.environmentVariables, { foo: "var" });
      const { root, service } = await repoWith(HELLO_YAML(80, "environmentVariables:\n  NODE_ENV: production\n"), app);
      const d = await runDiagnosis({ api, service, stack: "production", root, registry: undefined, located, smoke: false, probes: noNetwork });
      assert.equal(causeOf(d, "missing-env").ok, true);
    } finally {
      await server.close();
    }
  });
});

describe("stuck-creating", () => {
  test("pending for longer than 5 minutes since updated_at", async () => {
    // container-with-img's first recorded state after the update is "pending".
    const server = await startReplayServer({ cassettes: ["container-with-img"], endBeforeTeardown: true });
    try {
      const api = createScalewayApi(replayConfig(server));
      const id = recordedContainers("container-with-img")[0].id;
      let container: ContainerInfo;
      do container = await api.getContainer(id);
      while (container.status !== "pending");
      const { root, service } = await repoWith(HELLO_YAML(80));
      const at = (ms: number) => ({ ...noNetwork, now: () => new Date(container.updatedAt!.getTime() + ms) });
      const ctx = { api, service, stack: "testing", root, registry: undefined, located: { container }, smoke: false };
      const stuck = causeOf(await runDiagnosis({ ...ctx, probes: at(12 * 60_000) }), "stuck-creating");
      assert.equal(stuck.ok, false);
      assert.equal(stuck.detail, `the container has been 'pending' for 12 min 0 s (since ${container.updatedAt!.toISOString()}); 2-3 minutes is normal`);
      assert.match(stuck.fix!, /status\.scaleway\.com for fr-par.*--redeploy.*delete and recreate it through Pulumi/);
      const normal = causeOf(await runDiagnosis({ ...ctx, probes: at(90_000) }), "stuck-creating");
      assert.equal(normal.ok, true);
      assert.match(normal.detail, /'pending' for 1 min 30 s: 2-3 minutes is normal, wait/);
    } finally {
      await server.close();
    }
  });
});

describe("domain-dns and health-check (recorded ready container with a custom domain)", () => {
  let server: ReplayServer;
  let located: Located;
  let api: ScalewayApi;
  let http: Server;
  let base: string;
  let answer = 502;
  const DOMAIN = "container.container-basic.scaleway-terraform.com";
  before(async () => {
    server = await startReplayServer({ cassettes: ["domain-basic"], endBeforeTeardown: true });
    ({ api, located } = await recordedFinalState(server, "domain-basic"));
    http = createServer((req, res) => {
      res.writeHead(req.url === "/health" ? answer : 404);
      res.end();
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    http.close();
    await server.close();
  });

  test("domain-dns: the CNAME must point at the container's endpoint", async () => {
    assert.equal(located.container!.status, "ready");
    const endpoint = located.container!.endpoint;
    const { root, service } = await repoWith(HELLO_YAML(80, `domain: ${DOMAIN}\n`));
    const run1 = (resolveCname: DiagnoseProbes["resolveCname"]) =>
      runDiagnosis({ api, service, stack: "testing", root, registry: undefined, located, smoke: false, probes: { ...noNetwork, resolveCname, fetch: globalThis.fetch, healthBaseUrl: base } });

    const wrong = causeOf(await run1(async () => ["old-host.example.net."]), "domain-dns");
    assert.equal(wrong.ok, false);
    assert.match(wrong.detail, new RegExp(`^${DOMAIN.replaceAll(".", "\\.")} is a CNAME for old-host\\.example\\.net, not the container's endpoint ${endpoint.replaceAll(".", "\\.")}; Scaleway domain binding: pending$`));
    assert.equal(wrong.fix, `create a DNS record '${DOMAIN}. CNAME ${endpoint}.' at the domain's DNS provider; propagation can take a few minutes (check with: dig +short CNAME ${DOMAIN})`);

    const none = causeOf(await run1(async () => Promise.reject(Object.assign(new Error("queryCname ENOTFOUND"), { code: "ENOTFOUND" }))), "domain-dns");
    assert.equal(none.ok, false);
    assert.match(none.detail, /has no CNAME record \(ENOTFOUND\)/);

    const right = causeOf(await run1(async () => [`${endpoint}.`]), "domain-dns");
    assert.equal(right.ok, true);
    assert.deepEqual(server.unmatched(), []);
  });

  test("health-check: ready but the health path answers 502 (the runbook's case), then 200", async () => {
    const { root, service } = await repoWith(HELLO_YAML(80));
    const diag = () => runDiagnosis({ api, service, stack: "testing", root, registry: undefined, located, smoke: false, probes: { ...noNetwork, fetch: globalThis.fetch, healthBaseUrl: base } });
    answer = 502;
    const bad = causeOf(await diag(), "health-check");
    assert.equal(bad.ok, false);
    assert.equal(bad.detail, `the container is ready but GET ${base}/health answered 502 (the runbook's 'ready but 502': the app is not serving on the configured port)`);
    assert.match(bad.fix!, /the app must answer \/health with 2xx on \$PORT \(80\) at 0\.0\.0\.0/);
    answer = 204;
    const good = causeOf(await diag(), "health-check");
    assert.equal(good.ok, true);
    assert.match(good.detail, new RegExp(`^GET ${base.replaceAll(".", "\\.")}/health answered 204 in \\d+ ms$`));
  });
});

describe("nixway diagnose (CLI)", () => {
  test("--json on the recorded failure: exit 1, the documented shape", async () => {
    const creds = fakeCredentials();
    const server = await startReplayServer({ cassettes: ["container-health-check"], secretKey: creds.secretKey, endBeforeTeardown: true });
    const saved = { ...process.env };
    try {
      const { root } = await repoWith(HELLO_YAML());
      const id = recordedContainers("container-health-check").at(-1)!.id;
      // Walk the replay to the recorded end state first.
      await createScalewayApi(replayConfig(server, creds)).waitForContainer(id, { minDelayMs: 1, maxDelayMs: 1 });
      Object.assign(process.env, { SCW_ACCESS_KEY: creds.accessKey, SCW_SECRET_KEY: creds.secretKey, SCW_API_URL: server.url });
      const r = await runCli(["diagnose", "hello", "--stack", "testing", "--container-id", id, "--json", "--no-smoke", "--root", root]);
      assert.equal(r.code, 1, r.stderr);
      const d = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(d), ["service", "stack", "status", "errorMessage", "causes"]);
      assert.equal(d.status, "error");
      assert.equal(d.errorMessage, "Image was not found in container registry.");
      for (const c of d.causes) assert.deepEqual(Object.keys(c), ["id", "ok", "detail", "fix"]);
      assert.deepEqual(d.causes.map((c: Cause) => c.id), ["image-not-found", "port-mismatch", "entrypoint-crash", "architecture", "memory-limit", "missing-env", "stuck-creating", "domain-dns", "health-check"]);
      assert.equal(d.causes[0].ok, false);
      assert.ok(!r.stdout.includes(creds.secretKey) && !r.stderr.includes(creds.secretKey));
    } finally {
      process.env = saved;
      await server.close();
    }
  });
});
