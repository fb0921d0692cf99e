// Every rule of service.yaml and nixway.yaml, asserted with its exact file:line:col and message,
// through the real CLI entry point (`nixway validate --root DIR`), plus exit statuses 0/1/2.
import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { loadRepo } from "../generator/repo.ts";
import { REPO_ROOT, runCli, spawnCli, type CliResult } from "./helpers/nixway-cli.ts";
import { minimalService, withRepo, type RepoFiles } from "./helpers/temp-repo.ts";

const FILE = "services/svc/service.yaml";
const BASE = "name: svc\nport: 8080\napp:\n  entry: index.ts\n";

/** Validates a repo holding services/svc/service.yaml = `yaml` (and its app entry) plus `extra`. */
async function validate(yaml: string | Buffer, extra: RepoFiles = {}, args: string[] = []): Promise<CliResult> {
  return withRepo({ ...minimalService("svc"), [FILE]: yaml, ...extra }, (root) => runCli(["validate", "--root", root, ...args]));
}

/** Asserts exit 1 and exactly these diagnostics (`line:col: message`, for services/svc/service.yaml unless a file is given). */
async function expectErrors(yaml: string | Buffer, expected: string[], extra: RepoFiles = {}): Promise<void> {
  const r = await validate(yaml, extra);
  assertErrors(r, expected);
}

function assertErrors(r: CliResult, expected: string[]): void {
  const lines = expected.map((e) => (/^[\w./-]+\.(yaml|yml|json):\d+:\d+: /.test(e) ? e : `${FILE}:${e}`)).map((e) => e.replace(/^([^ ]+:\d+:\d+): /, "$1: error: "));
  const n = lines.length;
  assert.equal(r.stderr, [...lines, `${n} error${n === 1 ? "" : "s"}`].join("\n") + "\n");
  assert.equal(r.stdout, "");
  assert.equal(r.code, 1);
}

async function expectValid(yaml: string, extra: RepoFiles = {}): Promise<void> {
  const r = await validate(yaml, extra);
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "1 service valid: svc\n");
  assert.equal(r.code, 0);
}

describe("valid input", () => {
  test("the repository's own services and nixway.yaml validate (exit 0)", async () => {
    const r = await runCli(["validate", "--root", REPO_ROOT]);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^\d+ services? valid: .*\bhello\b/);
    assert.equal(r.code, 0);
  });

  test("the minimal service validates and gets every default", async () => {
    await expectValid(BASE);
    await withRepo(minimalService("svc"), async (root) => {
      const repo = await loadRepo(root);
      const [s] = repo.services;
      assert.deepEqual(
        { ...s, stacks: Object.keys(s.stacks) },
        {
          name: "svc",
          description: undefined,
          dir: "services/svc",
          file: FILE,
          port: 8080,
          timeout: 300,
          privacy: "public",
          app: { dir: "app", entry: "index.ts" },
          minScale: 0,
          maxScale: 5,
          memoryLimit: 256,
          cpuLimit: 140,
          environmentVariables: {},
          secretEnvironmentVariables: {},
          healthCheck: undefined,
          keepWarm: undefined,
          domain: undefined,
          imageSizeBudgetMB: undefined,
          imagePackages: [],
          stacks: ["production", "testing"],
        },
      );
      assert.deepEqual(repo.config, {
        region: "fr-par",
        registry: undefined,
        projectId: undefined,
        stateBucket: undefined,
        apiSecret: { env: "SCW_SECRET_KEY" },
        file: undefined,
      });
    });
  });

  test("stack overrides merge over the service settings", async () => {
    const yaml =
      BASE +
      "minScale: 0\nmaxScale: 3\nenvironmentVariables:\n  A: a\n  B: b\nstacks:\n  testing:\n  production:\n    minScale: 4\n    maxScale: 8\n    environmentVariables:\n      B: prod\n";
    await expectValid(yaml);
    await withRepo({ ...minimalService("svc"), [FILE]: yaml }, async (root) => {
      const [s] = (await loadRepo(root)).services;
      assert.deepEqual(s.stacks.testing, { minScale: 0, maxScale: 3, memoryLimit: 256, cpuLimit: 140, environmentVariables: { A: "a", B: "b" } });
      assert.deepEqual(s.stacks.production, { minScale: 4, maxScale: 8, memoryLimit: 256, cpuLimit: 140, environmentVariables: { A: "a", B: "prod" } });
    });
  });

  test("a UTF-8 byte order mark and CRLF line endings are accepted", async () => {
    await expectValid("\uFEFF" + BASE.replace(/\n/g, "\r\n"));
  });

  test("boundary values are accepted", async () => {
    await expectValid(
      "name: ab\nport: 65535\nminScale: 10\nmaxScale: 10\nmemoryLimit: 12288\ncpuLimit: 6000\ntimeout: 900\napp:\n  entry: index.ts\n".replace("name: ab", "name: svc"),
    );
    await expectValid("name: svc\nport: 1\nmaxScale: 1\nmemoryLimit: 128\ncpuLimit: 70\ntimeout: 1\napp:\n  entry: index.ts\n");
    await expectValid(`name: ${"a".repeat(34)}\nport: 8080\napp:\n  entry: index.ts\n`.replace(/a{34}/, "svc"));
  });
});

describe("name", () => {
  test("must follow Scaleway's container name rule", async () => {
    await expectErrors("name: Hello_World\nport: 8080\napp:\n  entry: index.ts\n", [
      `1:7: name "Hello_World" is not a valid container name: use 2-34 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`,
    ]);
    await expectErrors("name: -svc\nport: 8080\napp:\n  entry: index.ts\n", [
      `1:7: name "-svc" is not a valid container name: use 2-34 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`,
    ]);
  });

  test("is 2-34 characters", async () => {
    await expectErrors("name: a\nport: 8080\napp:\n  entry: index.ts\n", [`1:7: name "a" has 1 character; allowed: 2-34`]);
    const long = "a".repeat(35);
    await expectErrors(`name: ${long}\nport: 8080\napp:\n  entry: index.ts\n`, [`1:7: name "${long}" has 35 characters; allowed: 2-34`]);
  });

  test("is required and a string", async () => {
    await expectErrors("port: 8080\napp:\n  entry: index.ts\n", [
      "1:1: missing required key 'name' (Container name on Scaleway and image name in the registry: 2-34 characters, lowercase letters, digits and '-', starting and ending with a letter or digit (Scaleway's container name rule))",
    ]);
    await expectErrors("name: 42\nport: 8080\napp:\n  entry: index.ts\n", [`1:7: name must be a string, found integer 42; quote it: "42"`]);
  });
});

describe("port", () => {
  test("is 1-65535", async () => {
    await expectErrors("name: svc\nport: 0\napp:\n  entry: index.ts\n", ["2:7: port is 0; allowed: 1-65535"]);
    await expectErrors("name: svc\nport: 65536\napp:\n  entry: index.ts\n", ["2:7: port is 65536; allowed: 1-65535"]);
  });

  test("is not one of the ports the platform reserves", async () => {
    for (const port of [8008, 8012, 8013, 8022, 9090, 9091]) {
      await expectErrors(`name: svc\nport: ${port}\napp:\n  entry: index.ts\n`, [
        `2:7: port ${port} is reserved by Scaleway (reserved: 8008, 8012, 8013, 8022, 9090, 9091); listen on another port such as 8080`,
      ]);
    }
  });

  test("is a required whole number", async () => {
    await expectErrors('name: svc\nport: "8080"\napp:\n  entry: index.ts\n', ['2:7: port must be a whole number, found string "8080"; remove the quotes']);
    await expectErrors("name: svc\nport: 80.5\napp:\n  entry: index.ts\n", ["2:7: port must be a whole number, found number 80.5"]);
    await expectErrors("name: svc\nport:\napp:\n  entry: index.ts\n", ["2:6: port must be a whole number, found an empty value"]);
    await expectErrors("name: svc\napp:\n  entry: index.ts\n", [
      "1:1: missing required key 'port' (TCP port the app listens on; Scaleway passes it to the app as $PORT)",
    ]);
  });
});

describe("scale, memory, cpu, timeout", () => {
  test("minScale is 0-10 and maxScale 1-50", async () => {
    await expectErrors(BASE + "minScale: -1\nmaxScale: 0\n", ["5:11: minScale is -1; allowed: 0-10", "6:11: maxScale is 0; allowed: 1-50"]);
    await expectErrors(BASE + "minScale: 11\nmaxScale: 51\n", ["5:11: minScale is 11; allowed: 0-10", "6:11: maxScale is 51; allowed: 1-50"]);
  });

  test("minScale is at most maxScale, including the default maxScale", async () => {
    await expectErrors(BASE + "minScale: 3\nmaxScale: 2\n", ["5:11: minScale 3 is greater than maxScale 2; minScale must be at most maxScale"]);
    await expectErrors(BASE + "minScale: 6\n", ["5:11: minScale 6 is greater than maxScale 5 (the default); minScale must be at most maxScale"]);
    await expectErrors(BASE + "maxScale: 2\nminScale: 3\n", ["6:11: minScale 3 is greater than maxScale 2; minScale must be at most maxScale"]);
  });

  test("minScale is at most maxScale in each stack, counting inherited values", async () => {
    await expectErrors(BASE + "stacks:\n  production:\n    minScale: 4\n    maxScale: 3\n", [
      "7:15: in stack 'production', minScale 4 is greater than maxScale 3; minScale must be at most maxScale",
    ]);
    await expectErrors(BASE + "minScale: 3\nstacks:\n  testing:\n    maxScale: 2\n", [
      "8:15: in stack 'testing', minScale 3 (from the service) is greater than maxScale 2; minScale must be at most maxScale",
    ]);
    await expectErrors(BASE + "stacks:\n  production:\n    minScale: 7\n", [
      "7:15: in stack 'production', minScale 7 is greater than maxScale 5 (the default); minScale must be at most maxScale",
    ]);
    // A stack may raise maxScale above a service-wide minScale that would otherwise be too high.
    await expectErrors(BASE + "minScale: 7\nstacks:\n  production:\n    maxScale: 10\n", [
      "5:11: minScale 7 is greater than maxScale 5 (the default); minScale must be at most maxScale",
    ]);
    await expectValid(BASE + "stacks:\n  production:\n    minScale: 7\n    maxScale: 10\n  testing:\n");
  });

  test("stack overrides have the same ranges", async () => {
    await expectErrors(BASE + "stacks:\n  production:\n    minScale: 11\n    maxScale: 51\n    memoryLimit: 64\n    cpuLimit: 6001\n", [
      "7:15: stacks.production.minScale is 11; allowed: 0-10",
      "8:15: stacks.production.maxScale is 51; allowed: 1-50",
      "9:18: stacks.production.memoryLimit is 64; allowed: 128-12288 MB",
      "10:15: stacks.production.cpuLimit is 6001; allowed: 70-6000 mVCPU",
    ]);
  });

  test("memoryLimit is 128-12288 MB, cpuLimit 70-6000 mVCPU, timeout 1-900 s", async () => {
    await expectErrors(BASE + "memoryLimit: 127\ncpuLimit: 69\ntimeout: 0\n", [
      "5:14: memoryLimit is 127; allowed: 128-12288 MB",
      "6:11: cpuLimit is 69; allowed: 70-6000 mVCPU",
      "7:10: timeout is 0; allowed: 1-900 seconds",
    ]);
    await expectErrors(BASE + "memoryLimit: 12289\ncpuLimit: 6001\ntimeout: 901\n", [
      "5:14: memoryLimit is 12289; allowed: 128-12288 MB",
      "6:11: cpuLimit is 6001; allowed: 70-6000 mVCPU",
      "7:10: timeout is 901; allowed: 1-900 seconds",
    ]);
    await expectErrors(BASE + "memoryLimit: 256MB\ntimeout: 1.5\ncpuLimit: 0.5 vcpu\n", [
      '5:14: memoryLimit must be a whole number, found string "256MB"; write the number alone, in MB',
      "6:10: timeout must be a whole number, found number 1.5",
      '7:11: cpuLimit must be a whole number, found string "0.5 vcpu"; write the number alone, in mVCPU',
    ]);
  });
});

describe("privacy", () => {
  test("is public or private, with a suggestion for near misses", async () => {
    await expectErrors(BASE + "privacy: publik\n", [`5:10: privacy is "publik"; allowed: public, private; did you mean 'public'?`]);
    await expectErrors(BASE + "privacy: Private\n", [`5:10: privacy is "Private"; allowed: public, private; did you mean 'private'?`]);
    await expectErrors(BASE + "privacy: internal\n", [`5:10: privacy is "internal"; allowed: public, private`]);
    await expectErrors(BASE + "privacy: 1\n", ["5:10: privacy is integer 1; allowed: public, private"]);
    await expectValid(BASE + "privacy: private\n");
  });
});

describe("app", () => {
  test("app and app.entry are required", async () => {
    await expectErrors("name: svc\nport: 8080\n", [
      "1:1: missing required key 'app' (The Bun app shipped in the image; its entry runs as `bun <entry>` with absolute store paths)",
    ]);
    await expectErrors("name: svc\nport: 8080\napp:\n  dir: app\n", [
      "3:1: missing required key 'entry' in app (Entry file, relative to the app directory (e.g. index.ts); it must exist)",
    ]);
    await expectErrors("name: svc\nport: 8080\napp:\n", ["3:5: app must be a mapping (key: value lines), found an empty value; write its keys on the lines below it, indented"]);
  });

  test("app.entry must exist under app.dir", async () => {
    await expectErrors("name: svc\nport: 8080\napp:\n  entry: main.ts\n", [
      `4:10: app.entry "main.ts" does not exist: no file services/svc/app/main.ts (entry is relative to services/svc/app)`,
    ]);
    await expectErrors("name: svc\nport: 8080\napp:\n  entry: index.ts\n  dir: src\n", [
      `4:10: app.entry "index.ts" does not exist: no file services/svc/src/index.ts (entry is relative to services/svc/src)`,
    ]);
    // A directory is not an entry file.
    await expectErrors("name: svc\nport: 8080\napp:\n  entry: lib\n", [
      `4:10: app.entry "lib" does not exist: no file services/svc/app/lib (entry is relative to services/svc/app)`,
    ], { "services/svc/app/lib/x.ts": "" });
    await expectValid("name: svc\nport: 8080\napp:\n  entry: server/main.ts\n  dir: src\n", { "services/svc/src/server/main.ts": "" });
  });

  test("app paths stay inside the service", async () => {
    await expectErrors("name: svc\nport: 8080\napp:\n  entry: ../../../etc/passwd\n", [
      `4:10: app.entry "../../../etc/passwd" must be a relative path inside the app directory (letters, digits and ._-/; no leading /, no '..')`,
    ]);
    await expectErrors("name: svc\nport: 8080\napp:\n  entry: index.ts\n  dir: /srv/app\n", [
      `5:8: app.dir "/srv/app" must be a relative path inside the service directory (letters, digits and ._-/; no leading /, no '..')`,
    ]);
  });
});

describe("environmentVariables", () => {
  test("at most 100 entries", async () => {
    const env = Array.from({ length: 101 }, (_, i) => `  V${i}: x\n`).join("");
    await expectErrors(BASE + "environmentVariables:\n" + env, ["6:3: environmentVariables has 101 entries; at most 100 allowed"]);
    await expectValid(BASE + "environmentVariables:\n" + env.split("\n").slice(0, 100).join("\n") + "\n");
  });

  test("names are letters, digits and _ (not starting with a digit), at most 100 characters", async () => {
    await expectErrors(BASE + "environmentVariables:\n  1ST: x\n  MY-VAR: y\n", [
      "6:3: environment variable name '1ST' in environmentVariables is invalid: use letters, digits and '_', not starting with a digit, at most 100 characters",
      "7:3: environment variable name 'MY-VAR' in environmentVariables is invalid: use letters, digits and '_', not starting with a digit, at most 100 characters",
    ]);
    const long = "A".repeat(101);
    await expectErrors(BASE + `environmentVariables:\n  ${long}: x\n`, [
      `6:3: environment variable name '${long}' in environmentVariables is invalid: use letters, digits and '_', not starting with a digit, at most 100 characters`,
    ]);
    await expectValid(BASE + `environmentVariables:\n  ${"A".repeat(100)}: x\n  _lower_ok_1: y\n`);
  });

  test("values are strings of at most 1000 characters", async () => {
    await expectErrors(BASE + `environmentVariables:\n  BIG: ${"x".repeat(1001)}\n`, ["6:8: environmentVariables.BIG has 1001 characters; allowed: at most 1000"]);
    await expectValid(BASE + `environmentVariables:\n  BIG: ${"x".repeat(1000)}\n`);
    await expectErrors(BASE + "environmentVariables:\n  N: 5\n  B: true\n  E:\n  L: [a]\n", [
      '6:6: environmentVariables.N must be a string, found integer 5; quote it: "5"',
      '7:6: environmentVariables.B must be a string, found boolean true; quote it: "true"',
      '8:5: environmentVariables.E must be a string, found an empty value; write "" for an empty string',
      "9:6: environmentVariables.L must be a string, found a list",
    ]);
  });

  test("PORT and SCW_* are reserved by the platform, in the service and in stacks", async () => {
    await expectErrors(BASE + "environmentVariables:\n  PORT: '8080'\n  SCW_ACCESS_KEY: x\nstacks:\n  testing:\n    environmentVariables:\n      SCW_REGION: fr-par\n", [
      "6:3: environmentVariables.PORT is reserved: Scaleway sets PORT from the service's 'port' field; remove it",
      "7:3: environmentVariables.SCW_ACCESS_KEY is reserved: names starting with SCW_ belong to the platform; rename it",
      "11:7: stacks.testing.environmentVariables.SCW_REGION is reserved: names starting with SCW_ belong to the platform; rename it",
    ]);
  });
});

describe("secretEnvironmentVariables", () => {
  const PASTED = "sk_live_51HqTzFJ9xQ2nR8vK3mP";

  test("a pasted secret is rejected without echoing it, saying how to store it", async () => {
    const r = await validate(BASE + `secretEnvironmentVariables:\n  STRIPE_KEY: ${PASTED}\n`);
    assertErrors(r, [
      "6:15: secretEnvironmentVariables.STRIPE_KEY must name a Pulumi config key (lowercase letters, digits and '-'), not hold the secret itself (value not shown). " +
        "Write 'STRIPE_KEY: stripe-key' here and store the secret with: pulumi config set --secret stripe-key (in services/svc/infra, once per stack). " +
        "If the value was ever committed, rotate the secret",
    ]);
    assert.ok(!r.stderr.includes(PASTED));
    assert.ok(!r.stderr.includes("51HqTz"));
  });

  test("no message echoes a secret, whatever its shape", async () => {
    const secrets = ["12345678901234", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", "true", "Bearer-XYZ"];
    for (const secret of secrets) {
      const r = await validate(BASE + `secretEnvironmentVariables:\n  TOKEN: ${secret}\n`);
      assert.equal(r.code, 1, secret);
      assert.ok(!r.stderr.includes(secret), `${secret} leaked: ${r.stderr}`);
      assert.match(r.stderr, /^services\/svc\/service\.yaml:6:10: error: .*pulumi config set --secret token/m);
    }
    const whole = await validate(BASE + `secretEnvironmentVariables: ${PASTED}\n`);
    assertErrors(whole, ["5:29: secretEnvironmentVariables must be a mapping (key: value lines), found a string (value not shown)"]);
    assert.ok(!whole.stderr.includes(PASTED));
  });

  test("an empty value asks for the config key", async () => {
    await expectErrors(BASE + "secretEnvironmentVariables:\n  API_KEY:\n", [
      "6:11: secretEnvironmentVariables.API_KEY is empty: write the Pulumi config key that holds the secret, e.g. 'API_KEY: api-key'",
    ]);
  });

  test("names follow the env rules; PORT and SCW_* are reserved; at most 100", async () => {
    await expectErrors(BASE + "secretEnvironmentVariables:\n  PORT: port\n  SCW_SECRET_KEY: scw\n  9LIVES: cat\n", [
      "6:3: secretEnvironmentVariables.PORT is reserved: Scaleway sets PORT from the service's 'port' field; remove it",
      "7:3: secretEnvironmentVariables.SCW_SECRET_KEY is reserved: names starting with SCW_ belong to the platform; rename it",
      "8:3: environment variable name '9LIVES' in secretEnvironmentVariables is invalid: use letters, digits and '_', not starting with a digit, at most 100 characters",
    ]);
    const many = Array.from({ length: 101 }, (_, i) => `  S${i}: s${i}\n`).join("");
    await expectErrors(BASE + "secretEnvironmentVariables:\n" + many, ["6:3: secretEnvironmentVariables has 101 entries; at most 100 allowed"]);
  });

  test("a name is either plain or secret, in every stack", async () => {
    await expectErrors(
      BASE + "environmentVariables:\n  API_KEY: x\nsecretEnvironmentVariables:\n  API_KEY: api-key\nstacks:\n  testing:\n    environmentVariables:\n      API_KEY: y\n",
      [
        "8:3: API_KEY is set in both environmentVariables and secretEnvironmentVariables; keep one",
        "12:7: API_KEY is a secret of this service; a stack cannot set it as plain text",
      ],
    );
    await expectValid(BASE + "secretEnvironmentVariables:\n  API_KEY: api-key\n  DB_URL: database-url\n");
  });
});

describe("healthCheck", () => {
  test("path starts with / and is 1-100 characters; probes within range", async () => {
    await expectErrors(BASE + "healthCheck:\n  path: health\n  failureThreshold: 2\n  interval: 0\n", [
      `6:9: healthCheck.path "health" must be a URL path starting with / (letters, digits and -._~!$&'()*+,;=:@%/)`,
      "7:21: healthCheck.failureThreshold is 2; allowed: 3-50",
      "8:13: healthCheck.interval is 0; allowed: 1-300 seconds",
    ]);
    await expectErrors(BASE + `healthCheck:\n  path: /${"a".repeat(100)}\n  failureThreshold: 51\n  interval: 301\n`, [
      "6:9: healthCheck.path has 101 characters; allowed: 1-100",
      "7:21: healthCheck.failureThreshold is 51; allowed: 3-50",
      "8:13: healthCheck.interval is 301; allowed: 1-300 seconds",
    ]);
    await expectErrors(BASE + "healthCheck:\n  failureThreshold: 3\n", [
      "5:1: missing required key 'path' in healthCheck (Path answered with 2xx when the app is healthy; starts with /, 1-100 characters)",
    ]);
    await expectValid(BASE + "healthCheck:\n  path: /healthz\n");
  });
});

describe("keepWarm", () => {
  const warm = (schedule: string, tz = "") => BASE + `keepWarm:\n  schedule: "${schedule}"\n${tz ? `  timezone: ${tz}\n` : ""}`;

  test("schedule is a 5-field cron expression", async () => {
    await expectErrors(warm("* * * *"), [
      '6:13: keepWarm.schedule "* * * *" is not a 5-field cron expression (minute hour day-of-month month day-of-week)',
    ]);
    await expectErrors(warm("0 */10 8-18 * * 1-5"), [
      '6:13: keepWarm.schedule "0 */10 8-18 * * 1-5" is not a valid cron schedule: expected 5 fields (minute hour day-of-month month day-of-week), found 6',
    ]);
    await expectErrors(BASE + "keepWarm:\n  timezone: UTC\n", [
      '5:1: missing required key \'schedule\' in keepWarm (Five-field cron expression (minute hour day-of-month month day-of-week), e.g. "*/10 8-18 * * 1-5")',
    ]);
  });

  test("each cron field is within its range", async () => {
    const cases: [string, string][] = [
      ["60 * * * *", "minute field: 60 is out of range 0-59"],
      ["* 24 * * *", "hour field: 24 is out of range 0-23"],
      ["* * 0 * *", "day-of-month field: 0 is out of range 1-31"],
      ["* * * 13 *", "month field: 13 is out of range 1-12"],
      ["* * * * 8", "day-of-week field: 8 is out of range 0-7"],
      ["*/0 * * * *", "minute field: step '0' must be at least 1"],
      ["* 18-8 * * *", "hour field: range 18-8 runs backwards"],
      ["* * * * MOX", "day-of-week field: 'MOX' is not a number or a name (SUN, MON, TUE, WED, THU, FRI, SAT)"],
    ];
    for (const [expr, why] of cases) {
      await expectErrors(warm(expr), [`6:13: keepWarm.schedule "${expr}" is not a valid cron schedule: ${why}`]);
    }
    await expectValid(warm("*/10 8-18 * * MON-FRI", "Europe/Paris"));
    await expectValid(warm("0 0 1 JAN,JUL 0,7"));
  });

  test("timezone is an IANA name", async () => {
    await expectErrors(warm("*/10 * * * *", "Europe/Pari"), [
      `7:13: keepWarm.timezone "Europe/Pari" is not an IANA time zone name; did you mean 'Europe/Paris'?`,
    ]);
    await expectErrors(warm("*/10 * * * *", "'+02:00'"), ['7:13: keepWarm.timezone "+02:00" is not an IANA time zone name (e.g. Europe/Paris, UTC)']);
    await expectValid(warm("*/10 * * * *", "America/Argentina/Buenos_Aires"));
  });
});

describe("domain", () => {
  test("is a hostname", async () => {
    await expectErrors(BASE + "domain: Not_A_Host\n", [
      '5:9: domain "Not_A_Host" is not a hostname: use lowercase labels separated by dots, e.g. api.example.com',
    ]);
    await expectErrors(BASE + "domain: https://api.example.com/\n", [
      '5:9: domain "https://api.example.com/" is not a hostname: use lowercase labels separated by dots, e.g. api.example.com (only the hostname: no https://, port or path)',
    ]);
    await expectErrors(BASE + "domain: localhost\n", [
      '5:9: domain "localhost" is not a hostname: use lowercase labels separated by dots, e.g. api.example.com',
    ]);
    await expectValid(BASE + "domain: api.eu-1.example.com\n");
  });
});

describe("stacks", () => {
  test("names, emptiness, shape and keys", async () => {
    await expectErrors(BASE + "stacks:\n  Prod: {}\n", [
      "6:3: stack name 'Prod' is invalid: use a lowercase letter then up to 39 of a-z, 0-9 and '-' (e.g. testing, production)",
    ]);
    await expectErrors(BASE + "stacks: {}\n", [
      "5:9: stacks is empty: declare at least one stack (e.g. testing: {}), or remove stacks to get testing and production",
    ]);
    await expectErrors(BASE + "stacks:\n  production: 3\n", ["6:15: stacks.production must be a mapping (key: value lines) or nothing, found integer 3"]);
    await expectErrors(BASE + "stacks:\n  production:\n    timeout: 10\n    minscale: 1\n", [
      "7:5: unknown key 'timeout' in stacks.production: timeout is set once for the whole service, not per stack (allowed here: minScale, maxScale, memoryLimit, cpuLimit, environmentVariables)",
      "8:5: unknown key 'minscale' in stacks.production; did you mean 'minScale'? (allowed: minScale, maxScale, memoryLimit, cpuLimit, environmentVariables)",
    ]);
  });

  test("declared stacks replace the default pair", async () => {
    await withRepo({ ...minimalService("svc"), [FILE]: BASE + "stacks:\n  staging:\n" }, async (root) => {
      const [s] = (await loadRepo(root)).services;
      assert.deepEqual(Object.keys(s.stacks), ["staging"]);
    });
  });
});

describe("unknown keys", () => {
  test("are errors with a suggestion and the allowed keys", async () => {
    const allowed =
      "name, description, port, minScale, maxScale, memoryLimit, cpuLimit, timeout, privacy, app, environmentVariables, secretEnvironmentVariables, healthCheck, keepWarm, domain, imageSizeBudgetMB, image, stacks";
    await expectErrors(BASE + "prot: 8081\nenviromentVariables: {}\nreplicas: 2\n", [
      `5:1: unknown key 'prot'; did you mean 'port'? (allowed: ${allowed})`,
      `6:1: unknown key 'enviromentVariables'; did you mean 'environmentVariables'? (allowed: ${allowed})`,
      `7:1: unknown key 'replicas' (allowed: ${allowed})`,
    ]);
    await expectErrors("name: svc\nport: 8080\napp:\n  entry: index.ts\n  entyr: main.ts\n", [
      "5:3: unknown key 'entyr' in app; did you mean 'entry'? (allowed: entry, dir)",
    ]);
  });
});

describe("YAML itself", () => {
  test("duplicate keys", async () => {
    await expectErrors("name: svc\nport: 8080\nport: 8081\napp:\n  entry: index.ts\n", ["3:1: duplicate key 'port': already set on line 2; each key may appear once in a mapping"]);
    await expectErrors(BASE + "environmentVariables:\n  A: x\n  A: y\n", ["7:3: duplicate key 'A': already set on line 6; each key may appear once in a mapping"]);
  });

  test("tabs used for indentation", async () => {
    await expectErrors("name: svc\nport: 8080\napp:\n\tentry: index.ts\n", ["4:1: tab used for indentation: YAML indents with spaces only; replace the tab with spaces"]);
  });

  test("more than one document", async () => {
    await expectErrors(BASE + "---\nname: other\n", ["5:1: more than one YAML document ('---'): this file holds exactly one"]);
  });

  test("an alias bomb fails fast instead of expanding", async () => {
    // Ten levels of nine aliases each: 9^10 (3.4 billion) nodes if it were expanded.
    const levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i <= 10; i++) levels.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(", ")}]`);
    await expectErrors(levels.join("\n") + "\n", ["2:10: YAML aliases expand to too much data (more than 64 expansions); write the values out instead"]);
  });

  test("an alias without its anchor", async () => {
    await expectErrors("name: svc\nport: *port\napp:\n  entry: index.ts\n", ["2:7: alias '*port' has no anchor '&port' before it"]);
  });

  test("aliases within the limit are fine", async () => {
    await expectValid(BASE + "environmentVariables:\n  A: &v shared\n  B: *v\n");
  });

  test("an empty or comment-only file", async () => {
    for (const text of ["", "# nothing yet\n", "\n\n"]) {
      await expectErrors(text, ["1:1: the file is empty: a service needs at least name, port and app.entry (see docs/service-yaml.md)"]);
    }
  });

  test("a document that is not a mapping", async () => {
    await expectErrors("- name: svc\n", ["1:1: the document must be a mapping (key: value lines), found a list"]);
    await expectErrors("just text\n", ['1:1: the document must be a mapping (key: value lines), found string "just text"']);
  });

  test("a file that is not UTF-8, pointing at the bad byte", async () => {
    const latin1 = Buffer.concat([Buffer.from(BASE + 'description: "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]);
    await expectErrors(latin1, ["5:18: file is not valid UTF-8 (byte 0xE9); save it as UTF-8"]);
  });

  test("a syntax error", async () => {
    await expectErrors("name: svc\nport: 8080\napp: {entry: index.ts\n", [
      "4:1: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }",
    ]);
  });

  test("common slips get their fix", async () => {
    await expectErrors("name: svc\nport:8080\napp:\n  entry: index.ts\n", ["2:6: missing space after ':': write 'port: 8080'"]);
    await expectErrors(BASE + "keepWarm:\n  schedule: */10 8-18 * * 1-5\n", [
      `6:13: '*' at the start of a value makes it an alias in YAML; quote the value: "*/10 8-18 * * 1-5"`,
    ]);
    await expectErrors(BASE + "description: @team owns this\n", [`5:14: '@' at the start of a value is reserved in YAML; quote the value: "@team owns this"`]);
    await expectErrors("name: svc\nport: 8080\napp: entry: index.ts\n", [
      "3:6: a value cannot contain ': ' unless quoted: quote the whole value, or put a nested key on its own, more indented line",
    ]);
    await expectErrors("name: svc\nport: 8080\napp:\n    entry: index.ts\n  dir: app\n", [
      "5:1: keys of one mapping must start at the same column: fix the indentation of this line",
    ]);
    await expectErrors("name: svc\nthe api service\nport: 8080\napp:\n  entry: index.ts\n", [
      "2:1: this line is not 'key: value' (a missing ':'?), so YAML reads it and the next line as one key",
    ]);
    // Forgot to indent: app is empty and entry lands at the top level.
    await expectErrors("name: svc\nport: 8080\napp:\nentry: index.ts\n", [
      "3:5: app must be a mapping (key: value lines), found an empty value; write its keys on the lines below it, indented",
      "4:1: unknown key 'entry' (allowed: name, description, port, minScale, maxScale, memoryLimit, cpuLimit, timeout, privacy, app, environmentVariables, secretEnvironmentVariables, healthCheck, keepWarm, domain, imageSizeBudgetMB, image, stacks)",
    ]);
  });

  test("an unclosed quote points at where it opens", async () => {
    await expectErrors('name: svc\ndescription: "the API\nport: 8080\napp:\n  entry: index.ts\n', ['2:14: unclosed quote: this string never ends; add the closing "']);
    await expectErrors("name: svc\ndescription: 'it is\nport: 8080\n", ["2:14: unclosed quote: this string never ends; add the closing '"]);
  });

  test("errors after a broken multi-line value are still on the right line", async () => {
    // The parser's own line count skips the newline inside "8080\n  entry"; ours does not.
    const r = await validate(" name: api\nport: 8080\n  entry: index.ts\n");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^services\/svc\/service\.yaml:3:8: error: invalid YAML: /m);
  });

  test("invisible and control characters are shown escaped, one diagnostic per line", async () => {
    await expectErrors(BASE + "keep\u200bWarm:\n  schedule: '0 * * * *'\n\"line\\nbreak\": 1\n\"\\e[31mred\": 2\n", [
      "5:1: unknown key 'keep\\u200bWarm'; did you mean 'keepWarm'? (allowed: name, description, port, minScale, maxScale, memoryLimit, cpuLimit, timeout, privacy, app, environmentVariables, secretEnvironmentVariables, healthCheck, keepWarm, domain, imageSizeBudgetMB, image, stacks)",
      "7:1: unknown key 'line\\u000abreak' (allowed: name, description, port, minScale, maxScale, memoryLimit, cpuLimit, timeout, privacy, app, environmentVariables, secretEnvironmentVariables, healthCheck, keepWarm, domain, imageSizeBudgetMB, image, stacks)",
      "8:1: unknown key '\\u001b[31mred' (allowed: name, description, port, minScale, maxScale, memoryLimit, cpuLimit, timeout, privacy, app, environmentVariables, secretEnvironmentVariables, healthCheck, keepWarm, domain, imageSizeBudgetMB, image, stacks)",
    ]);
  });

  test("keys that are not plain names, and missing keys", async () => {
    await expectErrors(BASE + "? [a, b]\n: c\n", ["5:3: a key must be a plain name, not a list, a mapping or a tagged value"]);
    await expectErrors(BASE + ": lonely\n", ["5:1: a key is missing before ':'"]);
  });

  test("tags are refused rather than silently converted", async () => {
    await expectErrors(BASE + "description: !!binary aGVsbG8=\ndomain: !env DOMAIN\n", [
      "5:14: unsupported YAML tag '!!binary': write the plain value without a tag",
      "6:9: unsupported YAML tag '!env': write the plain value without a tag",
    ]);
  });

  test("a file too large to be a service.yaml", async () => {
    await expectErrors(BASE + "# " + "x".repeat(300 * 1024) + "\n", [`1:1: file is ${BASE.length + 2 + 300 * 1024 + 1} bytes; at most 262144 are read`]);
  });

  test("deep nesting is one error, not a crash", async () => {
    // Where the parser gives up depends on the JS stack size, so only the line is fixed.
    const r = await validate(BASE + "description: " + "[".repeat(5000) + "\n");
    assert.match(r.stderr, /^services\/svc\/service\.yaml:5:\d+: error: YAML nested too deeply to read\n1 error\n$/);
    assert.equal(r.code, 1);
  });
});

describe("repository layout", () => {
  test("a misnamed service file", async () => {
    const r = await withRepo(
      { ...minimalService("svc"), "services/api/service.yml": "name: api\n", "services/api/app/index.ts": "" },
      (root) => runCli(["validate", "--root", root]),
    );
    assertErrors(r, ["services/api/service.yml:1:1: service files are named service.yaml; rename service.yml to service.yaml"]);
  });

  test("a service directory without service.yaml", async () => {
    const r = await withRepo({ ...minimalService("svc"), "services/api/app/index.ts": "" }, (root) => runCli(["validate", "--root", root]));
    assertErrors(r, [
      "services/api/service.yaml:1:1: no such file: every directory under services/ is a service and needs a service.yaml; write one (see docs/service-yaml.md) or remove services/api/",
    ]);
  });

  test("service names are unique across the repository", async () => {
    const r = await withRepo(
      { ...minimalService("svc"), ...minimalService("api", "# copied from svc\nname: svc\nport: 8080\napp:\n  entry: index.ts\n") },
      (root) => runCli(["validate", "--root", root]),
    );
    assertErrors(r, [
      "services/api/service.yaml:2:7: service name 'svc' is also used by services/svc/service.yaml; names must be unique across the repository",
      "services/svc/service.yaml:1:7: service name 'svc' is also used by services/api/service.yaml; names must be unique across the repository",
    ]);
  });

  test("errors of every file are reported at once, sorted by file and position", async () => {
    const r = await withRepo(
      {
        "nixway.yaml": "region: paris\n",
        ...minimalService("b", "name: b1\nport: 0\napp:\n  entry: index.ts\n"),
        ...minimalService("a", "name: a1\nport: 8080\nmemoryLimit: 1\napp:\n  entry: index.ts\n"),
      },
      (root) => runCli(["validate", "--root", root]),
    );
    assertErrors(r, [
      'nixway.yaml:1:9: region is "paris"; allowed: fr-par, nl-ams, pl-waw',
      "services/a/service.yaml:3:14: memoryLimit is 1; allowed: 128-12288 MB",
      "services/b/service.yaml:2:7: port is 0; allowed: 1-65535",
    ]);
  });

  test("validate SERVICE checks only that service (and nixway.yaml)", async () => {
    const files = { ...minimalService("good"), ...minimalService("bad", "name: bad\nport: 0\napp:\n  entry: index.ts\n") };
    await withRepo(files, async (root) => {
      const good = await runCli(["validate", "--root", root, "good"]);
      assert.deepEqual(good, { code: 0, stdout: "1 service valid: good\n", stderr: "" });
      assertErrors(await runCli(["validate", "--root", root, "bad"]), ["services/bad/service.yaml:2:7: port is 0; allowed: 1-65535"]);
    });
  });

  test("validate writes nothing", async () => {
    const files = { ...minimalService("svc"), ...minimalService("bad", "name: bad\nport: 0\napp:\n  entry: index.ts\n"), "nixway.yaml": "region: fr-par\n" };
    await withRepo(files, async (root) => {
      const before = await snapshot(root);
      assert.equal((await runCli(["validate", "--root", root])).code, 1);
      assert.equal((await runCli(["validate", "--root", root, "svc"])).code, 0);
      assert.deepEqual(await snapshot(root), before);
    });
  });
});

describe("nixway.yaml", () => {
  const repo = (config: string): RepoFiles => ({ ...minimalService("svc"), "nixway.yaml": config });
  const check = async (config: string, expected: string[]) =>
    assertErrors(await withRepo(repo(config), (root) => runCli(["validate", "--root", root])), expected.map((e) => `nixway.yaml:${e}`));

  test("the repository's nixway.yaml settings are read", async () => {
    await withRepo(repo("region: nl-ams\nregistryNamespace: team\nprojectId: 105bdce1-64c0-48ab-899d-868455867ecf\nstateBucket: team-state\napiSecret:\n  command: [pass, scw/secret]\n"), async (root) => {
      assert.deepEqual((await loadRepo(root)).config, {
        region: "nl-ams",
        registry: "rg.nl-ams.scw.cloud/team",
        projectId: "105bdce1-64c0-48ab-899d-868455867ecf",
        stateBucket: "team-state",
        apiSecret: { command: ["pass", "scw/secret"] },
        file: "nixway.yaml",
      });
    });
  });

  test("unknown keys, enums and patterns", async () => {
    await check("regoin: fr-par\n", [
      "1:1: unknown key 'regoin'; did you mean 'region'? (allowed: region, registryNamespace, registry, projectId, stateBucket, apiSecret)",
    ]);
    await check("region: fr-pa\n", [`1:9: region is "fr-pa"; allowed: fr-par, nl-ams, pl-waw; did you mean 'fr-par'?`]);
    await check("registryNamespace: My_Team\n", [
      `1:20: registryNamespace "My_Team" is not a namespace name: lowercase letters, digits and '-', starting and ending with a letter or digit`,
    ]);
    await check("registry: https://rg.fr-par.scw.cloud\n", [
      `1:11: registry "https://rg.fr-par.scw.cloud" must be HOST[:PORT]/NAMESPACE, e.g. rg.fr-par.scw.cloud/my-namespace`,
    ]);
    await check("projectId: 1234\n", ['1:12: projectId must be a string, found integer 1234; quote it: "1234"']);
    await check("projectId: not-a-uuid\n", [`1:12: projectId "not-a-uuid" must be a Scaleway project id (a lowercase UUID)`]);
    await check("stateBucket: My_Bucket\n", [
      `1:14: stateBucket "My_Bucket" is not a bucket name: lowercase letters, digits, '.' and '-', starting and ending with a letter or digit`,
    ]);
  });

  test("registry and registryNamespace are exclusive", async () => {
    await check("registryNamespace: team\nregistry: 127.0.0.1:5000/team\n", ["2:11: set either registry or registryNamespace, not both"]);
  });

  test("apiSecret has exactly one of env and command", async () => {
    await check("apiSecret: {}\n", [
      "1:12: apiSecret is empty: set either env (e.g. env: SCW_SECRET_KEY) or command (e.g. command: [pass, scaleway/api-secret])",
    ]);
    await check("apiSecret:\n  env: SCW_SECRET_KEY\n  command: [pass, x]\n", ["2:3: apiSecret sets both env and command: keep one"]);
    await check("apiSecret:\n  command: pass scaleway/api-secret\n", [
      '2:12: apiSecret.command must be a list, found string "pass scaleway/api-secret"; write a list, e.g. [pass, scaleway/api-secret]',
    ]);
    await check("apiSecret:\n  command: []\n", ["2:12: apiSecret.command has 0 items; at least 1 allowed"]);
    await check("apiSecret:\n  env: 1PASSWORD\n", [
      `2:8: apiSecret.env "1PASSWORD" is not an environment variable name: letters, digits and '_', not starting with a digit`,
    ]);
  });

  test("YAML errors in nixway.yaml", async () => {
    await check("region: fr-par\nregion: nl-ams\n", ["2:1: duplicate key 'region': already set on line 1; each key may appear once in a mapping"]);
    await check("- region\n", ["1:1: the document must be a mapping (key: value lines), found a list"]);
  });

  test("an empty nixway.yaml means every default", async () => {
    await withRepo(repo("# defaults\n"), async (root) => {
      assert.equal((await loadRepo(root)).config.region, "fr-par");
    });
  });
});

describe("exit statuses and usage", () => {
  test("0 valid, 1 invalid", async () => {
    assert.equal((await validate(BASE)).code, 0);
    assert.equal((await validate("name: svc\n")).code, 1);
  });

  test("2 for usage errors, with a pointer to --help", async () => {
    const cases: [string[], string][] = [
      [["validate", "--bogus"], "nixway: error: validate: Unknown option '--bogus'\nRun 'nixway validate --help' for usage.\n"],
      [["validate", "--root", "/nonexistent/nixway-root"], "nixway: error: --root /nonexistent/nixway-root: no such directory\nRun 'nixway validate --help' for usage.\n"],
      [["valdate"], "nixway: error: unknown command 'valdate'; did you mean 'validate'?\nRun 'nixway --help' for usage.\n"],
    ];
    for (const [argv, stderr] of cases) {
      const r = await runCli(argv);
      assert.deepEqual(r, { code: 2, stdout: "", stderr }, argv.join(" "));
    }
    const none = await runCli([]);
    assert.equal(none.code, 2);
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /^Usage: nixway <command>/);
  });

  test("an unknown SERVICE is a usage error with a suggestion", async () => {
    await withRepo({ ...minimalService("svc"), ...minimalService("api") }, async (root) => {
      const r = await runCli(["validate", "--root", root, "apj"]);
      assert.deepEqual(r, {
        code: 2,
        stdout: "",
        stderr: "nixway: error: no service 'apj' under services/; did you mean 'api'? (known: api, svc)\nRun 'nixway validate --help' for usage.\n",
      });
    });
  });

  test("--help exits 0", async () => {
    const top = await runCli(["--help"]);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /validate\s+check nixway\.yaml/);
    const v = await runCli(["validate", "--help"]);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^Usage: nixway validate \[--root DIR\] \[SERVICE\.\.\.\]/);
  });

  test("the real binary: exit statuses and no stack trace", async () => {
    await withRepo({ ...minimalService("svc", "name: svc\nport: 9090\napp:\n  entry: index.ts\n") }, async (root) => {
      const bad = await spawnCli(["validate", "--root", root]);
      assert.equal(bad.code, 1);
      assert.equal(
        bad.stderr,
        "services/svc/service.yaml:2:7: error: port 9090 is reserved by Scaleway (reserved: 8008, 8012, 8013, 8022, 9090, 9091); listen on another port such as 8080\n1 error\n",
      );
    });
    const ok = await spawnCli(["validate"]);
    assert.equal(ok.stderr, "");
    assert.equal(ok.code, 0);
    const usage = await spawnCli(["validate", "--nope"]);
    assert.equal(usage.code, 2);
    assert.doesNotMatch(usage.stderr, /\n\s+at /);
  });
});

/** Every file under root with its bytes and mtime. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const abs = path.join(entry.parentPath, entry.name);
    const rel = path.relative(root, abs);
    if (entry.isFile()) out[rel] = `${(await stat(abs)).mtimeMs} ${(await readFile(abs)).toString("base64")}`;
    else out[rel] = "dir";
  }
  return out;
}
