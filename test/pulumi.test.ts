// The ContainerService component under Pulumi's mocks (in process, no engine or CLI): each field
// of the service becomes the right input of the right @pulumiverse/scaleway resource.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ContainerService, requireImage, settingsForStack, type ContainerServiceArgs } from "../generator/pulumi/container-service.ts";
import { containerNameFor, MAX_SCALEWAY_NAME, namespaceNameFor } from "../generator/pulumi/names.ts";
import { byType, FAKE_ENDPOINT, isSecretInput, resolve, runWithMocks, secretValue, TYPES } from "./helpers/pulumi-mocks.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const IMAGE = "rg.fr-par.scw.cloud/acme/hello:c-0123456789abcdef0123";

function baseArgs(over: Partial<ContainerServiceArgs> = {}): ContainerServiceArgs {
  return {
    image: IMAGE,
    imageDigest: DIGEST,
    port: 8080,
    minScale: 0,
    maxScale: 5,
    memoryLimit: 256,
    cpuLimit: 140,
    timeout: 300,
    privacy: "public",
    environmentVariables: {},
    ...over,
  };
}

async function build(args: ContainerServiceArgs, stack = "production") {
  let service!: ContainerService;
  const { resources } = await runWithMocks({ stack }, () => {
    service = new ContainerService("hello", args);
  });
  const one = (type: string) => {
    const found = byType(resources, type);
    assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
    return found[0];
  };
  return { service, resources, one };
}

test("a component with a namespace and a container, and nothing else when no domain or keepWarm", async () => {
  const { resources } = await build(baseArgs());
  assert.deepEqual(resources.map((r) => r.type).sort(), [TYPES.component, TYPES.container, TYPES.namespace].sort());
  assert.equal(byType(resources, TYPES.component)[0].custom, false);
});

test("namespace: per-stack name, region, project", async () => {
  const { one } = await build(baseArgs({ region: "nl-ams", projectId: "11111111-2222-4333-8444-555555555555" }), "testing");
  const ns = one(TYPES.namespace);
  assert.equal(ns.inputs.name, "hello-testing");
  assert.equal(ns.inputs.region, "nl-ams");
  assert.equal(ns.inputs.projectId, "11111111-2222-4333-8444-555555555555");
});

test("container: image by content tag, registrySha256 = digest, in the namespace", async () => {
  const { one } = await build(baseArgs());
  const c = one(TYPES.container).inputs;
  assert.equal(c.image, IMAGE);
  assert.equal(c.registrySha256, DIGEST);
  assert.equal(c.namespaceId, "hello-id");
  assert.equal(c.name, "hello");
  // Only non-deprecated inputs.
  for (const deprecated of ["registryImage", "memoryLimit", "httpOption", "healthChecks", "localStorageLimit", "deploy"]) {
    assert.equal(deprecated in c, false, `deprecated input ${deprecated} was set`);
  }
});

test("container: port, scales, memory in bytes, cpu, timeout", async () => {
  const { one } = await build(baseArgs({ port: 3000, minScale: 1, maxScale: 7, memoryLimit: 512, cpuLimit: 280, timeout: 60 }));
  const c = one(TYPES.container).inputs;
  assert.equal(c.port, 3000);
  assert.equal(c.minScale, 1);
  assert.equal(c.maxScale, 7);
  assert.equal(c.memoryLimitBytes, 512 * 1024 * 1024);
  assert.equal(c.cpuLimit, 280);
  assert.equal(c.timeout, 60);
});

test("container: privacy public and private; HTTPS only by default", async () => {
  const pub = (await build(baseArgs())).one(TYPES.container).inputs;
  assert.equal(pub.privacy, "public");
  assert.equal(pub.httpsConnectionsOnly, true);
  const priv = (await build(baseArgs({ privacy: "private", httpsConnectionsOnly: false }))).one(TYPES.container).inputs;
  assert.equal(priv.privacy, "private");
  assert.equal(priv.httpsConnectionsOnly, false);
});

test("container: plain environment variables as given, not secret", async () => {
  const { one } = await build(baseArgs({ environmentVariables: { GREETING: "hello", NODE_ENV: "production" } }));
  const env = one(TYPES.container).inputs.environmentVariables;
  assert.equal(isSecretInput(env), false);
  assert.deepEqual(env, { GREETING: "hello", NODE_ENV: "production" });
});

test("container: secret environment variables are sent as secrets", async () => {
  const { one } = await build(baseArgs({ secretEnvironmentVariables: { API_KEY: pulumi.output("s3cr3t") } }));
  const secrets = one(TYPES.container).inputs.secretEnvironmentVariables;
  assert.equal(isSecretInput(secrets), true, "secretEnvironmentVariables must be marked secret");
  assert.deepEqual(secretValue(secrets), { API_KEY: "s3cr3t" });
});

test("container: config.requireSecret values stay secret", async () => {
  let service!: ContainerService;
  const { resources } = await runWithMocks({ stack: "production", config: { "hello:api-key": "s3cr3t" }, secretKeys: ["hello:api-key"] }, () => {
    const config = new pulumi.Config();
    service = new ContainerService("hello", baseArgs({ secretEnvironmentVariables: { API_KEY: config.requireSecret("api-key") } }));
  });
  assert.ok(service);
  const secrets = byType(resources, TYPES.container)[0].inputs.secretEnvironmentVariables;
  assert.equal(isSecretInput(secrets), true);
});

test("container: no secretEnvironmentVariables input without secrets", async () => {
  const c = (await build(baseArgs())).one(TYPES.container).inputs;
  assert.equal("secretEnvironmentVariables" in c, false);
});

test("healthCheck becomes liveness and startup probes", async () => {
  const { one } = await build(baseArgs({ healthCheck: { path: "/health", failureThreshold: 5, interval: 20 } }));
  const c = one(TYPES.container).inputs;
  const probe = { http: { path: "/health" }, failureThreshold: 5, interval: "20s", timeout: "20s" };
  assert.deepEqual(c.livenessProbe, probe);
  assert.deepEqual(c.startupProbe, probe);
});

test("no probes without healthCheck", async () => {
  const c = (await build(baseArgs())).one(TYPES.container).inputs;
  assert.equal("livenessProbe" in c, false);
  assert.equal("startupProbe" in c, false);
});

test("domain: a containers.Domain on the container", async () => {
  const { one, service } = await build(baseArgs({ domain: "api.example.com", region: "fr-par" }));
  const d = one(TYPES.domain).inputs;
  assert.deepEqual(d, { containerId: "hello-id", hostname: "api.example.com", region: "fr-par" });
  assert.equal((await resolve(service.domainUrl!)).value, "https://api.example.com");
});

test("keepWarm on a scale-to-zero stack: a cron Trigger calling the path (not the deprecated Cron)", async () => {
  const { one, resources } = await build(
    baseArgs({ minScale: 0, keepWarm: { schedule: "*/10 8-18 * * 1-5", timezone: "Europe/Paris", path: "/health" } }),
  );
  const t = one(TYPES.trigger).inputs;
  assert.equal(t.containerId, "hello-id");
  assert.equal(t.name, "keep-warm");
  assert.deepEqual(t.cron, { schedule: "*/10 8-18 * * 1-5", timezone: "Europe/Paris" });
  assert.deepEqual(t.destinationConfig, { httpMethod: "get", httpPath: "/health" });
  assert.equal(byType(resources, TYPES.cron).length, 0);
});

test("keepWarm is not needed (no trigger) when minScale >= 1", async () => {
  const { resources } = await build(baseArgs({ minScale: 1, keepWarm: { schedule: "*/10 8-18 * * 1-5", timezone: "UTC", path: "/" } }));
  assert.equal(byType(resources, TYPES.trigger).length, 0);
});

test("outputs: container id, status, https URL of the public endpoint", async () => {
  const { service } = await build(baseArgs());
  assert.equal((await resolve(service.containerId)).value, "hello-id");
  assert.equal((await resolve(service.namespaceId)).value, "hello-id");
  assert.equal((await resolve(service.status)).value, "ready");
  assert.equal((await resolve(service.url)).value, `https://${FAKE_ENDPOINT}`);
  assert.equal(service.domainUrl, undefined);
});

test("stack overrides: the stack's settings are the ones applied (testing vs production)", async () => {
  const stacks = {
    production: { minScale: 1, maxScale: 10, memoryLimit: 512, cpuLimit: 280, environmentVariables: { GREETING: "hello" } },
    testing: { minScale: 0, maxScale: 2, memoryLimit: 256, cpuLimit: 140, environmentVariables: { GREETING: "hello from testing" } },
  };
  for (const [stack, expected] of Object.entries(stacks)) {
    let container: Record<string, any> | undefined;
    const { resources } = await runWithMocks({ stack }, () => {
      new ContainerService("hello", baseArgs({ ...settingsForStack(stacks, "services/hello/service.yaml") }));
    });
    container = byType(resources, TYPES.container)[0].inputs;
    assert.equal(container.minScale, expected.minScale, stack);
    assert.equal(container.maxScale, expected.maxScale, stack);
    assert.equal(container.memoryLimitBytes, expected.memoryLimit * 1024 * 1024, stack);
    assert.equal(container.cpuLimit, expected.cpuLimit, stack);
    assert.deepEqual(container.environmentVariables, expected.environmentVariables, stack);
    assert.equal(byType(resources, TYPES.namespace)[0].inputs.name, `hello-${stack}`);
  }
});

test("an undeclared stack stops the program with the declared ones named", async () => {
  await runWithMocks({ stack: "staging" }, () => {
    assert.throws(
      () => settingsForStack({ production: baseArgs(), testing: baseArgs() }, "services/hello/service.yaml"),
      (err: Error) =>
        err instanceof pulumi.RunError &&
        err.message.startsWith("stack 'staging' is not declared in services/hello/service.yaml (declared: production, testing)"),
    );
  });
});

test("requireImage: image and imageDigest from stack config, with guidance when missing", async () => {
  await runWithMocks({ stack: "testing", config: { "hello:image": IMAGE, "hello:imageDigest": DIGEST } }, () => {
    assert.deepEqual(requireImage(new pulumi.Config(), "hello"), { image: IMAGE, imageDigest: DIGEST });
  });
  await runWithMocks({ stack: "testing", config: { "hello:image": IMAGE } }, () => {
    assert.throws(
      () => requireImage(new pulumi.Config(), "hello"),
      (err: Error) =>
        err instanceof pulumi.RunError &&
        err.message.startsWith("stack config imageDigest not set for stack 'testing': deploy with `npx nixway deploy hello --stack testing`"),
    );
  });
  await runWithMocks({ stack: "testing", config: { "hello:image": IMAGE, "hello:imageDigest": "latest" } }, () => {
    assert.throws(() => requireImage(new pulumi.Config(), "hello"), /imageDigest is "latest", expected a manifest digest sha256:/);
  });
});

test("names: namespace per service and stack, within Scaleway's 34 characters", () => {
  assert.equal(namespaceNameFor("hello", "production"), "hello-production");
  assert.equal(containerNameFor("hello"), "hello");
  const long = namespaceNameFor("a-very-long-service-name-of-34-chr", "production");
  assert.ok(long.length <= MAX_SCALEWAY_NAME, long);
  assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.notEqual(long, namespaceNameFor("a-very-long-service-name-of-34-chr", "productio2"));
  assert.equal(long, namespaceNameFor("a-very-long-service-name-of-34-chr", "production"), "deterministic");
});
