// Scaleway settings as Scaleway's own tools read them (SCW_*), with nixway.yaml as the fallback.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { OperationError } from "../generator/diagnostics.ts";
import { toRepoConfig } from "../generator/model.ts";
import { DEFAULT_API_URL, resolveScalewayConfig } from "../generator/scaleway/config.ts";

const ACCESS = "SCWABCDEFGHIJ0123456";
const PROJECT = "105bdce1-64c0-48ab-899d-868455867ecf";

describe("resolveScalewayConfig", () => {
  test("SCW_* variables win over nixway.yaml", async () => {
    const secret = randomUUID();
    const other = "00000000-1111-2222-3333-444444444444";
    const c = await resolveScalewayConfig(toRepoConfig({ region: "fr-par", projectId: PROJECT }, "nixway.yaml"), {
      SCW_ACCESS_KEY: ACCESS,
      SCW_SECRET_KEY: secret,
      SCW_DEFAULT_REGION: "nl-ams",
      SCW_DEFAULT_PROJECT_ID: other,
      SCW_API_URL: "http://127.0.0.1:9999/",
    });
    assert.equal(c.accessKey, ACCESS);
    assert.equal(c.secretKey.reveal(), secret);
    assert.equal(String(c.secretKey), "[redacted]");
    assert.equal(c.region, "nl-ams");
    assert.equal(c.projectId, other);
    assert.equal(c.apiUrl, "http://127.0.0.1:9999", "no trailing slash: the SDK refuses one");
  });

  test("nixway.yaml supplies region, project and the secret's command when SCW_* are unset", async () => {
    const secret = randomUUID();
    // A real argv command that prints the secret (like `pass …`), run without a shell.
    const config = toRepoConfig({ region: "pl-waw", projectId: PROJECT, apiSecret: { command: [process.execPath, "-e", `console.log(${JSON.stringify(secret)})`] } }, "nixway.yaml");
    const c = await resolveScalewayConfig(config, { SCW_ACCESS_KEY: ACCESS, PATH: process.env.PATH });
    assert.equal(c.region, "pl-waw");
    assert.equal(c.projectId, PROJECT);
    assert.equal(c.secretKey.reveal(), secret);
    assert.equal(c.apiUrl, DEFAULT_API_URL);
  });

  test("every problem at once, never the secret itself", async () => {
    const canary = "secret-canary-not-a-uuid";
    await assert.rejects(
      resolveScalewayConfig(toRepoConfig({}, undefined), { SCW_ACCESS_KEY: "scw-lowercase", SCW_SECRET_KEY: canary, SCW_DEFAULT_REGION: "us-east-1", SCW_DEFAULT_PROJECT_ID: "nope" }),
      (err: unknown) => {
        assert.ok(err instanceof OperationError);
        assert.equal(
          err.message,
          [
            "Scaleway configuration:",
            "  SCW_ACCESS_KEY is not an access key (expected SCW followed by 17 upper-case letters or digits)",
            "  SCW_DEFAULT_REGION is 'us-east-1'; Serverless Containers run in fr-par, nl-ams, pl-waw",
            "  SCW_DEFAULT_PROJECT_ID is not a project id (a UUID)",
            "  the Scaleway API secret key is not in the expected format (a UUID); check SCW_SECRET_KEY or apiSecret in nixway.yaml",
          ].join("\n"),
        );
        assert.ok(!err.message.includes(canary));
        return true;
      },
    );
  });

  test("a missing secret says where it can come from", async () => {
    await assert.rejects(resolveScalewayConfig(toRepoConfig({}, undefined), { SCW_ACCESS_KEY: ACCESS }), /SCW_SECRET_KEY is not set/);
    await assert.rejects(resolveScalewayConfig(toRepoConfig({}, undefined), {}), /SCW_ACCESS_KEY is not set/);
  });
});
