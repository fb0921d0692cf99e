// The Pulumi state backend on Scaleway Object Storage and the environment of the Pulumi CLI child.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../generator/diagnostics.ts";
import { pulumiEnv, stateBackendUrl } from "../generator/pulumi/backend.ts";

const CONFIG = { stateBucket: "acme-pulumi-state", region: "nl-ams", projectId: "11111111-2222-4333-8444-555555555555", file: "nixway.yaml" };
const KEYS = { accessKey: "SCWAAAAAAAAAAAAAAAAA", secretKey: "00000000-1111-4222-8333-444444444444" };

test("stateBackendUrl: the S3 URL of the bucket on the region's Object Storage endpoint", () => {
  assert.equal(stateBackendUrl(CONFIG), "s3://acme-pulumi-state?endpoint=s3.nl-ams.scw.cloud&region=nl-ams&s3ForcePathStyle=true");
  assert.equal(
    stateBackendUrl({ stateBucket: "sanmarcsoft-pulumi-state", region: "fr-par", file: undefined }),
    "s3://sanmarcsoft-pulumi-state?endpoint=s3.fr-par.scw.cloud&region=fr-par&s3ForcePathStyle=true",
  );
});

test("stateBackendUrl: no bucket is an input error saying what to set", () => {
  assert.throws(
    () => stateBackendUrl({ stateBucket: undefined, region: "fr-par", file: "nixway.yaml" }),
    (err: Error) => err instanceof InputError && /^nixway\.yaml: stateBucket is not set/.test(err.message),
  );
});

test("pulumiEnv: backend, keys for the bucket and the provider, region and project; base untouched", () => {
  const base = { PATH: "/usr/bin", HOME: "/home/u", AWS_SESSION_TOKEN: "old", AWS_PROFILE: "work", PULUMI_BACKEND_URL: "file://x", PULUMI_CONFIG_PASSPHRASE: "pp" };
  const before = { ...base };
  const env = pulumiEnv(base, KEYS, CONFIG);
  assert.deepEqual(base, before, "base is not modified");
  assert.equal(env.PATH, "/usr/bin");
  assert.equal(env.HOME, "/home/u");
  assert.equal(env.PULUMI_BACKEND_URL, "s3://acme-pulumi-state?endpoint=s3.nl-ams.scw.cloud&region=nl-ams&s3ForcePathStyle=true");
  assert.equal(env.AWS_ACCESS_KEY_ID, KEYS.accessKey);
  assert.equal(env.AWS_SECRET_ACCESS_KEY, KEYS.secretKey);
  assert.equal(env.SCW_ACCESS_KEY, KEYS.accessKey);
  assert.equal(env.SCW_SECRET_KEY, KEYS.secretKey);
  assert.equal(env.SCW_DEFAULT_REGION, "nl-ams");
  assert.equal(env.SCW_DEFAULT_PROJECT_ID, CONFIG.projectId);
  assert.equal(env.AWS_SESSION_TOKEN, undefined, "a stale session token would break the static keys");
  assert.equal(env.AWS_PROFILE, undefined);
  assert.equal(env.PULUMI_CONFIG_PASSPHRASE, "pp", "an inherited passphrase is kept");
});

test("pulumiEnv: SCW_DEFAULT_PROJECT_ID overrides nixway.yaml's projectId; an explicit passphrase wins", () => {
  const env = pulumiEnv({ SCW_DEFAULT_PROJECT_ID: "99999999-2222-4333-8444-555555555555", PULUMI_CONFIG_PASSPHRASE: "old" }, KEYS, CONFIG, { passphrase: "new" });
  assert.equal(env.SCW_DEFAULT_PROJECT_ID, "99999999-2222-4333-8444-555555555555");
  assert.equal(env.PULUMI_CONFIG_PASSPHRASE, "new");
  const noProject = pulumiEnv({}, KEYS, { ...CONFIG, projectId: undefined });
  assert.equal("SCW_DEFAULT_PROJECT_ID" in noProject, false);
});
