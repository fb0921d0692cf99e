// `nixway new SERVICE`: the scaffold validates, and its Bun app really serves /health on $PORT.
// Bad names and existing directories are usage errors (exit 2) that write nothing.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT, runCli, spawnCli } from "./helpers/nixway-cli.ts";
import { freePort } from "./helpers/free-port.ts";

const BUN = path.join(REPO_ROOT, "node_modules", ".bin", "bun");

/** A temp copy of the repository's inputs: nixway.yaml and services/ (without build outputs). */
async function copyRepo(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), "nixway-new-"));
  await cp(path.join(REPO_ROOT, "nixway.yaml"), path.join(root, "nixway.yaml"));
  await cp(path.join(REPO_ROOT, "services"), path.join(root, "services"), {
    recursive: true,
    filter: (src) => !/(^|\/)(node_modules|result(-[^/]*)?)$/.test(src),
  });
  return root;
}

/** Every path under dir, sorted, with file contents: what "wrote nothing" is compared against. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const abs = path.join(e.parentPath, e.name);
    out.push(`${path.relative(dir, abs)}${e.isFile() ? ` ${(await readFile(abs)).toString("base64")}` : "/"}`);
  }
  return out.sort();
}


describe("nixway new", () => {
  let root: string;
  before(async () => {
    root = await copyRepo();
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("scaffolds a service that validates (the real binary)", async () => {
    const made = await spawnCli(["new", "api", "--root", root]);
    assert.equal(made.stderr, "");
    assert.equal(
      made.stdout,
      "created services/api/service.yaml and services/api/app/index.ts\nnext: edit them, then run 'npx nixway validate api' and 'npx nixway generate'\n",
    );
    assert.equal(made.code, 0);

    const yaml = await readFile(path.join(root, "services/api/service.yaml"), "utf8");
    const schemaLine = yaml.split("\n")[0];
    assert.equal(schemaLine, "# yaml-language-server: $schema=../../schemas/service.schema.json");
    // The $schema path resolves to the real schema from where the file sits in a repo.
    assert.ok(existsSync(path.resolve(REPO_ROOT, "services/api", schemaLine.split("=")[1])));
    assert.match(yaml, /^name: api$/m);
    assert.doesNotMatch(yaml + (await readFile(path.join(root, "services/api/app/index.ts"), "utf8")), /__NAME__/);
    // No staging directory left behind.
    assert.deepEqual((await readdir(path.join(root, "services"))).filter((n) => n.startsWith(".")), []);

    const all = await spawnCli(["validate", "--root", root]);
    assert.equal(all.stderr, "");
    assert.equal(all.code, 0);
    assert.match(all.stdout, /^\d+ services valid: .*\bapi\b/);
    const one = await runCli(["validate", "--root", root, "api"]);
    assert.deepEqual(one, { code: 0, stdout: "1 service valid: api\n", stderr: "" });
  });

  test("the scaffolded Bun app listens on $PORT and answers /health", async (t) => {
    assert.ok(existsSync(BUN), `bun is required at ${BUN}: run npm ci (it is a devDependency)`);
    assert.ok(existsSync(path.join(root, "services/api/app/index.ts")), "the scaffold test must run first");
    const port = await freePort();
    const child: ChildProcess = spawn(BUN, ["services/api/app/index.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (b: Buffer) => (output += b));
    child.stderr?.on("data", (b: Buffer) => (output += b));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    });

    // Poll until the app is up: at most 15 s.
    let health: Response | undefined;
    for (let i = 0; i < 150 && !health; i++) {
      if (child.exitCode !== null) assert.fail(`bun exited with ${child.exitCode}: ${output}`);
      try {
        health = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(health, `no answer on 127.0.0.1:${port} within 15 s; bun said: ${output}`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const home = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await home.text(), "hello from api\n");
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
    assert.match(output, new RegExp(`api listening on .*:${port}`));
  });

  test("invalid names are usage errors that write nothing", async () => {
    const before = await tree(root);
    const names = ["API", "a", "-api", "api-", "my_api", "a".repeat(35), "../evil", "api/v2", "api.v2", "", "café"];
    for (const name of names) {
      // After "--" so that "-api" reaches the name check instead of reading as a flag.
      const r = await runCli(["new", "--root", root, "--", name]);
      assert.equal(r.code, 2, JSON.stringify(name));
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        `nixway: error: new: '${name}' is not a valid service name: use 2-34 characters of a-z, 0-9 and '-', starting and ending with a letter or digit\n` +
          "Run 'nixway new --help' for usage.\n",
      );
    }
    assert.deepEqual(await tree(root), before);
  });

  test("an existing directory is a usage error that writes nothing", async () => {
    const before = await tree(root);
    const r = await runCli(["new", "hello", "--root", root]);
    assert.deepEqual(r, {
      code: 2,
      stdout: "",
      stderr: "nixway: error: new: services/hello already exists; nothing was written\nRun 'nixway new --help' for usage.\n",
    });
    assert.deepEqual(await tree(root), before);
  });

  test("missing or extra arguments and unknown flags are usage errors", async () => {
    const before = await tree(root);
    const cases: [string[], string][] = [
      [["new", "--root", root], "nixway: error: new: missing SERVICE\n"],
      [["new", "one", "two", "--root", root], "nixway: error: new: unexpected argument 'two'\n"],
      [["new", "api2", "--force", "--root", root], "nixway: error: new: Unknown option '--force'\n"],
    ];
    for (const [argv, first] of cases) {
      const r = await runCli(argv);
      assert.equal(r.code, 2, argv.join(" "));
      assert.equal(r.stderr, first + "Run 'nixway new --help' for usage.\n");
    }
    assert.deepEqual(await tree(root), before);
  });
});
