// The Pulumi emitter: generated programs equal their committed goldens (services/hello and
// test/fixtures/pulumi/*), type-check with the real tsc against the installed
// @pulumiverse/scaleway, escape what they interpolate, and keep user-owned stack files createOnly.
// NIXWAY_UPDATE_GOLDEN=1 rewrites the goldens (review the diff).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdirSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { parse as parseYaml } from "yaml";
import { emitPulumi, emitPulumiAll } from "../generator/emit/pulumi.ts";
import { loadRepo } from "../generator/repo.ts";
import { runProgramUnderMocks } from "../generator/plan.ts";
import { REPO_ROOT, runCli } from "./helpers/nixway-cli.ts";
import { makeRepo, minimalService, removeRepo, withRepo } from "./helpers/temp-repo.ts";

const CASES = {
  hello: REPO_ROOT,
  full: path.join(REPO_ROOT, "test/fixtures/pulumi/full"),
  minimal: path.join(REPO_ROOT, "test/fixtures/pulumi/minimal"),
};
const TSC = path.join(REPO_ROOT, "node_modules/typescript/bin/tsc");

function tsc(project: string): Promise<{ code: number; output: string }> {
  assert.ok(existsSync(TSC), `tsc not found at ${TSC}: run npm ci`);
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, "-p", project], { timeout: 120_000, encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, output: stdout + stderr });
    });
  });
}

/** A throwaway tsconfig (outside the repo) that type-checks `files` with the repo's settings. */
function tsconfigFor(dir: string, files: string[]): string {
  const file = path.join(dir, "tsconfig.json");
  writeFileSync(
    file,
    JSON.stringify({
      extends: path.join(REPO_ROOT, "tsconfig.json"),
      compilerOptions: { noEmit: true, typeRoots: [path.join(REPO_ROOT, "node_modules/@types")] },
      files,
      include: [],
    }),
  );
  return file;
}

for (const [name, root] of Object.entries(CASES)) {
  test(`golden: generated Pulumi files of ${name} equal the committed ones`, async () => {
    const repo = await loadRepo(root);
    const files = emitPulumiAll(repo).filter((f) => !f.createOnly);
    assert.ok(files.length >= 2);
    for (const file of files) {
      const abs = path.join(root, file.path);
      if (process.env.NIXWAY_UPDATE_GOLDEN === "1") {
        mkdirSync(path.dirname(abs), { recursive: true });
        writeFileSync(abs, file.content);
      }
      assert.ok(existsSync(abs), `${abs} is missing (NIXWAY_UPDATE_GOLDEN=1 writes it)`);
      assert.equal(readFileSync(abs, "utf8"), file.content, `${file.path} differs from the emitter's output`);
    }
  });
}

test("the generated programs type-check with tsc against the installed @pulumiverse/scaleway", async () => {
  const programs: string[] = [];
  for (const root of Object.values(CASES)) {
    const repo = await loadRepo(root);
    for (const s of repo.services) programs.push(path.join(root, s.dir, "infra/index.ts"));
  }
  const dir = path.join(os.tmpdir(), `nixway-tsc-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const result = await tsc(tsconfigFor(dir, programs));
    assert.equal(result.code, 0, result.output);
  } finally {
    await removeRepo(dir);
  }
});

test("control: tsc does reject a program with a wrong ContainerService input", async () => {
  const dir = await makeRepo({});
  try {
    symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
    const component = path.join(REPO_ROOT, "generator/pulumi/container-service.ts");
    const bad = path.join(dir, "bad.ts");
    writeFileSync(
      bad,
      `import { ContainerService } from ${JSON.stringify(component)};\n` +
        `new ContainerService("x", { image: "i", imageDigest: "sha256:x", port: 1, timeout: 1, privacy: "publik", minScale: 0, maxScale: 1, memoryLimit: 128, cpuLimit: 70, environmentVariables: {} });\n`,
    );
    const result = await tsc(tsconfigFor(dir, [bad]));
    assert.notEqual(result.code, 0);
    assert.match(result.output, /bad\.ts.*"publik"/);
  } finally {
    await removeRepo(dir);
  }
});

test("files: index.ts and Pulumi.yaml generated, one createOnly Pulumi.<stack>.yaml per stack", async () => {
  const repo = await loadRepo(CASES.full);
  const files = emitPulumi(repo.services[0], repo);
  assert.deepEqual(
    files.map((f) => [f.path, f.mode, f.createOnly === true]),
    [
      ["services/api/infra/Pulumi.yaml", 0o644, false],
      ["services/api/infra/index.ts", 0o644, false],
      ["services/api/infra/Pulumi.production.yaml", 0o644, true],
      ["services/api/infra/Pulumi.staging.yaml", 0o644, true],
      ["services/api/infra/Pulumi.testing.yaml", 0o644, true],
    ],
  );
  for (const f of files) {
    assert.ok(f.content.endsWith("\n") && !f.content.includes("\r"), `${f.path}: LF and a final newline`);
    assert.ok(!f.content.includes(REPO_ROOT) && !f.content.includes(os.tmpdir()), `${f.path}: no absolute paths`);
    assert.match(f.content.split("\n")[0], /^(\/\/|#) (Generated by nixway|Created by `npx nixway generate`).*services\/api\/service\.yaml/);
    assert.match(f.content, /npx nixway generate/);
  }
  assert.deepEqual(emitPulumi(repo.services[0], repo), files, "deterministic");
});

test("Pulumi.yaml: nodejs runtime through tsx, the program, the S3 state backend", async () => {
  const full = await loadRepo(CASES.full);
  const project = parseYaml(emitPulumi(full.services[0], full)[0].content);
  assert.deepEqual(project, {
    name: "api",
    description: 'API with "quotes", a backslash \\, ${template}, */ and a\nnewline',
    runtime: { name: "nodejs", options: { typescript: false, nodeargs: "--import tsx" } },
    main: "index.ts",
    backend: { url: "s3://acme-pulumi-state?endpoint=s3.nl-ams.scw.cloud&region=nl-ams&s3ForcePathStyle=true" },
  });
  const minimal = await loadRepo(CASES.minimal);
  const tiny = parseYaml(emitPulumi(minimal.services[0], minimal)[0].content);
  assert.equal(tiny.backend, undefined, "no backend without stateBucket");
  assert.equal(tiny.description, "nixway service tiny");
});

test("Pulumi.<stack>.yaml: empty config and how to set each secret once", async () => {
  const repo = await loadRepo(CASES.full);
  const stackFile = emitPulumi(repo.services[0], repo).find((f) => f.path.endsWith("Pulumi.production.yaml"))!;
  assert.deepEqual(parseYaml(stackFile.content), { config: {} });
  assert.equal(stackFile.content.match(/pulumi config set --secret api-token --stack production/g)?.length, 1);
  assert.match(stackFile.content, /pulumi config set --secret db-password --stack production/);
});

test("escaping: strings reach the resources unchanged when the generated program runs", async () => {
  const repo = await loadRepo(CASES.full);
  const service = repo.services[0];
  const resources = await runProgramUnderMocks({
    program: path.join(CASES.full, "services/api/infra/index.ts"),
    project: "api",
    stack: "testing",
    config: { "api:image": "i", "api:imageDigest": "sha256:x", "api:api-token": "t", "api:db-password": "p" },
    secretKeys: ["api:api-token", "api:db-password"],
  });
  const container = resources.find((r) => r.type === "scaleway:containers/container:Container")!;
  assert.equal(container.inputs.description, service.description);
  assert.deepEqual(container.inputs.environmentVariables, service.stacks.testing.environmentVariables);
  assert.equal((container.inputs.environmentVariables as Record<string, string>).QUOTED, 'say "hi" `now` ${HOME} \\ done');
});

test("escaping: an odd service directory name cannot break out of a comment", async () => {
  // A line break (and the JS line separator) would end a // comment early.
  const dirName = "odd\nthrow 1;\u2028name";
  await withRepo(
    {
      ...minimalService("odd"),
      [`services/${dirName}/service.yaml`]: "name: odd\nport: 8080\napp:\n  entry: index.ts\n",
      [`services/${dirName}/app/index.ts`]: "export {};\n",
      "services/odd/service.yaml": "name: other\nport: 8080\napp:\n  entry: index.ts\n",
    },
    async (root) => {
      const repo = await loadRepo(root);
      const service = repo.services.find((s) => s.name === "odd")!;
      assert.equal(service.dir, `services/${dirName}`);
      for (const file of emitPulumi(service, repo)) {
        assert.equal(file.content.split("\n")[0].includes("odd\\nthrow 1;\\u2028name"), true, `${file.path}: the name is quoted in the header`);
        assert.equal(file.content.includes("\u2028"), false, `${file.path}: no raw line separator`);
        if (file.path.endsWith(".ts")) {
          const sf = ts.createSourceFile("index.ts", file.content, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
          const diagnostics = (sf as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics;
          assert.deepEqual(diagnostics.map((d) => d.messageText), [], "the generated program parses");
        } else {
          assert.doesNotThrow(() => parseYaml(file.content), file.path);
        }
      }
    },
  );
});

test("domain: attached in the production stack only", async () => {
  const repo = await loadRepo(CASES.full);
  const program = emitPulumi(repo.services[0], repo).find((f) => f.path.endsWith("index.ts"))!.content;
  assert.equal(program.match(/domain: "api\.example\.com"/g)?.length, 1);
  assert.match(program, /production: \{[^}]*\{[^}]*\},\s*domain: "api\.example\.com",/s);
});

test("generate creates Pulumi.<stack>.yaml once and never touches it again (users' encrypted secrets)", async () => {
  await withRepo(minimalService("svc"), async (root) => {
    const first = await runCli(["generate", "--root", root]);
    assert.equal(first.code, 0, first.stderr);
    const stackPath = path.join(root, "services/svc/infra/Pulumi.production.yaml");
    assert.ok(existsSync(stackPath), "created on the first generate");
    assert.ok(existsSync(path.join(root, "services/svc/infra/index.ts")));

    // What `pulumi config set --secret` and `nixway deploy` leave there.
    const userOwned =
      "encryptionsalt: v1:c2FsdA==:v1:abc:def\nconfig:\n  svc:api-key:\n    secure: v1:AAAABBBBCCCC\n  svc:image: rg.fr-par.scw.cloud/ns/svc:c-0123456789abcdef0123\n";
    writeFileSync(stackPath, userOwned);
    // A changed service (and a new stack) regenerates the program, not the existing stack file.
    writeFileSync(
      path.join(root, "services/svc/service.yaml"),
      "name: svc\nport: 9000\napp:\n  entry: index.ts\nstacks:\n  production: {}\n  staging: {}\n",
    );
    const second = await runCli(["generate", "--root", root]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(readFileSync(stackPath, "utf8"), userOwned);
    assert.match(readFileSync(path.join(root, "services/svc/infra/index.ts"), "utf8"), /port: 9000/);
    assert.ok(existsSync(path.join(root, "services/svc/infra/Pulumi.staging.yaml")), "the new stack's file is created");

    const check = await runCli(["generate", "--check", "--root", root]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(readFileSync(stackPath, "utf8"), userOwned);
  });
});
