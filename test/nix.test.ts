// The Nix layer against real tools: nix-instantiate --parse, nix eval and nix flake check
// --no-build with the strict nixpkgs double (nixpkgs cannot be fetched here), shellcheck on every
// emitted script, bun for the smoke run, tar + jq for the image inspection.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { emitServiceNix, nixString } from "../generator/emit/nix.ts";
import { emitServiceScripts, shellQuote } from "../generator/emit/scripts.ts";
import { loadRepo } from "../generator/repo.ts";
import { run } from "../generator/proc.ts";
import { REPO_ROOT } from "./helpers/nixway-cli.ts";
import {
  derivationEnv,
  doublePkgs,
  evalExpr,
  evalJson,
  flakeCheckNoBuild,
  makeFlakeRepo,
  mustRun,
  nixEnv,
  NIX_DOUBLE,
  removeFlakeRepo,
  requireTool,
} from "./helpers/nix-flake.ts";

const SYSTEMS = ["x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"];
const VERBS = ["deploy", "diagnose", "promote", "push", "status"];
const TRICKY = path.join(REPO_ROOT, "test", "fixtures", "generate", "tricky");
const TRICKY_GOLDEN = path.join(REPO_ROOT, "test", "fixtures", "generate", "tricky.expected");
const BUN = path.join(REPO_ROOT, "node_modules", ".bin", "bun");
const STORE_PATH = /^\/nix\/store\/[0-9a-z]{32}-/;

before(async () => {
  await requireTool("nix-instantiate");
  await requireTool("nix");
  await requireTool("shellcheck");
  await requireTool("git");
  await requireTool("jq");
  await requireTool(BUN);
});

async function shellcheck(text: string, name: string): Promise<void> {
  const r = await run(["shellcheck", "--shell=bash", "-"], { input: text, env: process.env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `shellcheck ${name}:\n${r.stdout}${r.stderr}`);
}

async function parseNix(file: string): Promise<void> {
  const r = await run(["nix-instantiate", "--parse", file], { env: nixEnv(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, `nix-instantiate --parse ${file}:\n${r.stderr}`);
}

/** What a Nix string literal evaluates to, read back raw. */
async function nixValueOf(literal: string): Promise<string> {
  const r = await mustRun(["nix", "eval", "--raw", "--expr", literal], { env: nixEnv() });
  return r.stdout;
}

describe("escaping", () => {
  const nasty = [
    "plain",
    "${builtins.abort \"x\"}",
    "$${x}",
    "\\${x}",
    "\\",
    "ends with \\",
    '"quoted" and \\"escaped\\"',
    "line\nbreak\r\nand\ttab",
    "''indented'' and ''${x}",
    "$",
    "$x ${ } $ {",
    "unicode: été ☃ 𝄞",
    "",
  ];

  test("nixString round-trips through nix eval", async () => {
    for (const s of nasty) assert.equal(await nixValueOf(nixString(s)), s, `nixString(${JSON.stringify(s)})`);
  });

  test("nixString refuses NUL, which no Nix string can hold", () => {
    assert.throws(() => nixString("a\0b"), /NUL/);
  });

  test("shellQuote round-trips through bash", () => {
    for (const s of [...nasty, "it's", "-n", "a b", "*", "~root"]) {
      const r = spawnSync("bash", ["-c", `printf '%s' ${shellQuote(s)}`], { encoding: "utf8" });
      assert.equal(r.stdout, s, `shellQuote(${JSON.stringify(s)})`);
    }
  });
});

describe("every Nix file parses", () => {
  test("flake.nix, nix/*.nix, generated image.nix, the double, the golden fixture", async () => {
    const files = [
      path.join(REPO_ROOT, "flake.nix"),
      ...readdirSync(path.join(REPO_ROOT, "nix")).filter((f) => f.endsWith(".nix")).map((f) => path.join(REPO_ROOT, "nix", f)),
      ...readdirSync(path.join(REPO_ROOT, "services")).map((d) => path.join(REPO_ROOT, "services", d, "image.nix")).filter(existsSync),
      ...readdirSync(NIX_DOUBLE).filter((f) => f.endsWith(".nix")).map((f) => path.join(NIX_DOUBLE, f)),
      path.join(TRICKY_GOLDEN, "image.nix"),
    ];
    assert.ok(files.some((f) => f.endsWith("services/hello/image.nix")), "services/hello/image.nix is generated and committed");
    for (const f of files) await parseNix(f);
  });

  test("flake.lock pins nixpkgs on nixos-25.05, its original equal to the input URL", () => {
    const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, "flake.lock"), "utf8"));
    assert.equal(lock.version, 7);
    const node = lock.nodes[lock.nodes.root.inputs.nixpkgs];
    assert.deepEqual(node.original, { owner: "NixOS", ref: "nixos-25.05", repo: "nixpkgs", type: "github" });
    assert.match(node.locked.rev, /^[0-9a-f]{40}$/);
    assert.match(node.locked.narHash, /^sha256-[A-Za-z0-9+/]{43}=$/);
    const flake = readFileSync(path.join(REPO_ROOT, "flake.nix"), "utf8");
    assert.match(flake, /inputs\.nixpkgs\.url = "github:NixOS\/nixpkgs\/nixos-25\.05";/);
  });
});

describe("shell", () => {
  test("committed scripts and nix/*.sh pass shellcheck", async () => {
    const scripts = [
      ...readdirSync(path.join(REPO_ROOT, "services")).flatMap((d) =>
        ["push.sh", "promote.sh"].map((s) => path.join(REPO_ROOT, "services", d, "scripts", s)).filter(existsSync),
      ),
      path.join(REPO_ROOT, "nix", "smoke-check.sh"),
      path.join(REPO_ROOT, "nix", "check-image.sh"),
      path.join(TRICKY_GOLDEN, "scripts", "push.sh"),
      path.join(TRICKY_GOLDEN, "scripts", "promote.sh"),
    ];
    assert.ok(scripts.some((s) => s.endsWith("services/hello/scripts/push.sh")));
    for (const s of scripts) await shellcheck(readFileSync(s, "utf8"), s);
  });
});

describe("golden outputs of the tricky fixture", () => {
  test("image.nix and the scripts equal test/fixtures/generate/tricky.expected", async () => {
    const repo = await loadRepo(TRICKY);
    const [service] = repo.services;
    const files = [...emitServiceNix(service, repo), ...emitServiceScripts(service, repo)];
    for (const f of files) {
      const golden = path.join(TRICKY_GOLDEN, path.relative(service.dir, f.path));
      if (process.env.NIXWAY_UPDATE_GOLDEN === "1") {
        mkdirSync(path.dirname(golden), { recursive: true });
        writeFileSync(golden, f.content);
      }
      assert.equal(f.content, readFileSync(golden, "utf8"), `${f.path} differs from ${golden} (NIXWAY_UPDATE_GOLDEN=1 rewrites it)`);
    }
  });

  test("its image.nix evaluates to exactly the service.yaml values", async () => {
    const repo = await loadRepo(TRICKY);
    const [s] = repo.services;
    // The golden image.nix next to the fixture's app, as generate would place it.
    const tmp = mkdtempSync(path.join(os.tmpdir(), "nixway-tricky-"));
    after(() => rmSync(tmp, { recursive: true, force: true }));
    cpSync(TRICKY, tmp, { recursive: true });
    cpSync(path.join(TRICKY_GOLDEN, "image.nix"), path.join(tmp, "services", "tricky", "image.nix"));
    const v = await evalExpr<{
      name: string;
      description: string;
      healthPath: string;
      environment: Record<string, string>;
      secretNames: string[];
      cmd: string[];
      config: { ExposedPorts: Record<string, unknown>; WorkingDir: string };
      appFiles: string;
      imageArgs: { contents: string[] };
    }>(
      `let svc = import ${tmp}/services/tricky/image.nix { pkgs = ${doublePkgs()}; };
       in svc // { imageArgs = { contents = map toString svc.image.doubleArgs.contents; }; appFiles = toString svc.appFiles; }
          // { image = null; }`,
    );
    assert.equal(v.name, "9-tricky");
    assert.equal(v.description, s.description);
    assert.equal(v.healthPath, s.healthCheck!.path);
    assert.deepEqual(v.environment, s.environmentVariables);
    assert.deepEqual(v.secretNames, ["DB_PASSWORD"]);
    assert.equal(v.cmd[1], `${v.appFiles}/app/server/main.v1.ts`);
    assert.deepEqual(Object.keys(v.config.ExposedPorts), ["3000/tcp"]);
    assert.equal(v.config.WorkingDir, `${v.appFiles}/app`);
    // caCertificates, then busybox and python3Packages.requests from image.packages.
    assert.equal(v.imageArgs.contents.length, 3);
    assert.match(v.imageArgs.contents[1], /-busybox-/);
    assert.match(v.imageArgs.contents[2], /-python3\.12-requests-/);
  });
});

describe("the strict nixpkgs double", () => {
  test("rejects arguments the real functions do not have, naming the nixpkgs file", async () => {
    const cases: [string, RegExp][] = [
      [`(${doublePkgs()}).dockerTools.buildLayeredImage { name = "x"; cmd = [ ]; }`, /buildLayeredImage has no argument\(s\) cmd; the real one \(pkgs\/build-support\/docker\/default\.nix\)/],
      [`(${doublePkgs()}).dockerTools.buildLayeredImage { tag = "x"; }`, /needs argument\(s\) name/],
      // Newer than nixos-25.05 may have: refused, so nixway cannot come to depend on it.
      [`(${doublePkgs()}).dockerTools.buildLayeredImage { name = "x"; compressor = "zstd"; }`, /has no argument\(s\) compressor/],
      [`(${doublePkgs()}).dockerTools.buildLayeredImage { name = "x"; config.Exposedports = { }; }`, /config has field\(s\) Exposedports/],
      [`(${doublePkgs()}).writeShellApplication { name = "x"; text = ""; runtimeDeps = [ ]; }`, /writeShellApplication has no argument\(s\) runtimeDeps.*trivial-builders/],
      [`(${doublePkgs()}).mkShell { buildInputz = [ ]; }`, /mkShell has no argument\(s\) buildInputz/],
      // The lock as npm writes it here (omit-lockfile-registry-resolved): nothing to fetch.
      [`(${doublePkgs()}).importNpmLock.buildNodeModules { npmRoot = ${path.resolve(REPO_ROOT)}; nodejs = (${doublePkgs()}).nodejs; }`, /lock entries without a resolved URL/],
    ];
    for (const [expr, message] of cases) {
      const r = await run(["nix", "eval", "--json", "--impure", "--expr", `builtins.seq (${expr}).drvPath true`], { env: nixEnv(), timeoutMs: 60_000 });
      assert.notEqual(r.code, 0, `expected a failure: ${expr}`);
      assert.match(r.stderr, message);
    }
  });
});

describe("the flake of this repository, evaluated against the double", () => {
  let dir: string;
  before(async () => {
    dir = await makeFlakeRepo();
  });
  after(() => removeFlakeRepo(dir));

  test("nix flake check --no-build evaluates every output of every system", async () => {
    const r = await flakeCheckNoBuild(dir);
    assert.equal(r.code, 0, r.stderr);
  });

  test("apps: five per service on each of the four systems, with meta.description", async () => {
    const apps = await evalJson<Record<string, Record<string, { type: string; program: string; meta: { description: string } }>>>(dir, "apps");
    assert.deepEqual(Object.keys(apps).sort(), [...SYSTEMS].sort());
    for (const system of SYSTEMS) {
      assert.deepEqual(Object.keys(apps[system]).sort(), VERBS.map((v) => `${v}-hello`));
      for (const [name, app] of Object.entries(apps[system])) {
        assert.equal(app.type, "app");
        assert.match(app.program, new RegExp(`${STORE_PATH.source}${name}/bin/${name}$`));
        assert.ok(app.meta.description.length > 20, `${system}.${name} has a description`);
        assert.ok(app.meta.description.includes("hello"));
      }
    }
  });

  test("packages and checks per service", async () => {
    const packages = await evalJson<Record<string, string[]>>(dir, "packages", "p: builtins.mapAttrs (s: builtins.attrNames) p");
    assert.deepEqual(packages["x86_64-linux"], ["hello", "hello-image", "nixway"]);
    for (const system of SYSTEMS.slice(1)) assert.deepEqual(packages[system], ["nixway"], `no images for ${system}`);
    const checks = await evalJson<Record<string, string[]>>(dir, "checks", "c: builtins.mapAttrs (s: builtins.attrNames) c");
    assert.deepEqual(checks, { "x86_64-linux": ["generated", "hello-image", "hello-smoke", "hello-typecheck", "service-yaml"] });
    const shells = await evalJson<Record<string, string[]>>(dir, "devShells", "d: builtins.mapAttrs (s: builtins.attrNames) d");
    for (const system of SYSTEMS) assert.deepEqual(shells[system], ["default"]);
    const shellInputs = (await evalJson<string[]>(dir, "devShells.x86_64-linux.default.nativeBuildInputs")).join(" ");
    for (const tool of ["nodejs", "bun", "skopeo", "pulumi", "shellcheck"]) assert.match(shellInputs, new RegExp(`-${tool}-`));
  });

  test("the image: absolute bun Cmd, no /usr/bin/env, port, non-root user, amd64, fixed date", async () => {
    const img = await evalJson<{
      architecture: string;
      os: string;
      created: string;
      config: { Cmd: string[]; ExposedPorts: Record<string, unknown>; User: string; WorkingDir: string; Entrypoint?: string[] };
    }>(dir, "packages.x86_64-linux.hello-image.doubleImageConfig");
    const appFiles = await evalJson<string>(dir, "packages.x86_64-linux.hello.appFiles", "toString");
    assert.equal(img.architecture, "amd64");
    assert.equal(img.os, "linux");
    assert.equal(img.created, "1970-01-01T00:00:01Z");
    assert.equal(img.config.Cmd.length, 2);
    assert.match(img.config.Cmd[0], new RegExp(`${STORE_PATH.source}bun-[^/]+/bin/bun$`));
    assert.equal(img.config.Cmd[1], `${appFiles}/app/index.ts`);
    assert.equal(img.config.Entrypoint, undefined);
    assert.ok(!JSON.stringify(img).includes("/usr/bin/env"));
    assert.deepEqual(img.config.ExposedPorts, { "8080/tcp": {} });
    assert.equal(img.config.User, "65534:65534");
    assert.equal(img.config.WorkingDir, `${appFiles}/app`);
    // The image is made from x86_64-linux packages, and only the CA certificates are added.
    const args = await evalJson<{ system: string; contents: string[] }>(
      dir,
      "packages.x86_64-linux.hello-image",
      "i: { system = i.system; contents = map toString i.doubleArgs.contents; }",
    );
    assert.equal(args.system, "x86_64-linux");
    assert.equal(args.contents.length, 1);
    assert.match(args.contents[0], /-ca-certificates$/);
  });

  test("the nixway package: node_modules from the lock with registry URLs, install scripts off", async () => {
    const env = await derivationEnv(dir, "packages.x86_64-linux.nixway");
    assert.match(env.text, /exec \/nix\/store\/[0-9a-z]{32}-nodejs-[^/]+\/bin\/node \/nix\/store\/[0-9a-z]{32}-nixway-0\.1\.0-lib\/bin\/nixway\.js "\$@"/);
  });

  test("app scripts: shellcheck-clean; x86_64-linux depends on the image, other systems build it or say a builder is needed", async () => {
    const image = await evalJson<string>(dir, "packages.x86_64-linux.hello-image", "toString");
    const imageDrv = await evalJson<string>(dir, "packages.x86_64-linux.hello-image.drvPath");
    for (const system of SYSTEMS) {
      for (const verb of VERBS) {
        const { text } = await derivationEnv(dir, `apps.${system}.${verb}-hello.program`);
        await shellcheck(text, `${system} ${verb}-hello`);
        assert.match(text, /^#!\/nix\/store\/[0-9a-z]{32}-bash-[^/]+\/bin\/bash\n/);
        assert.match(text, /export PATH="[^"]*-nixway\/bin:[^"]*-skopeo-[^"]*\/bin:[^"]*-pulumi-[^"]*\/bin:[^"]*-nodejs-[^"]*\/bin:\$PATH"/);
        const needsImage = verb === "deploy" || verb === "push";
        const call = needsImage ? `exec nixway ${verb} hello --archive "$archive" "$@"` : `exec nixway ${verb} hello "$@"`;
        assert.ok(text.includes(call), `${system} ${verb}: ${text}`);
        if (!needsImage) continue;
        if (system === "x86_64-linux") {
          assert.ok(text.includes(`archive=${image}\n`), text);
        } else {
          assert.ok(text.includes(`image_drv=${imageDrv}\n`), text);
          assert.ok(!text.includes(image), "no output path of the image: it is built at run time");
          assert.ok(text.includes("an x86_64-linux builder is needed"));
        }
      }
    }
  });

  /**
   * Runs a check's build command here, the way its builder would (passAsFile variables as files,
   * $out), with store paths of the double (never built) swapped for local equivalents.
   */
  async function runCheck(attr: string, swap: (cmd: string) => string): Promise<{ code: number | null; stderr: string; stdout: string }> {
    const env = await derivationEnv(dir, attr);
    const work = mkdtempSync(path.join(os.tmpdir(), "nixway-check-"));
    try {
      const vars: Record<string, string> = { out: path.join(work, "out"), TMPDIR: work };
      for (const name of (env.passAsFile ?? "").split(" ").filter(Boolean)) {
        writeFileSync(path.join(work, `${name}.file`), env[name]);
        vars[`${name}Path`] = path.join(work, `${name}.file`);
      }
      return await run(["bash", "-euo", "pipefail", "-c", swap(env.buildCommand)], { cwd: work, env: { ...process.env, ...vars }, timeoutMs: 120_000 });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  // The checks run the nixway package, installed at another path than the source they check
  // (two store paths): here, this checkout's CLI on the store copy of the source.
  const localCli = async (): Promise<(cmd: string) => string> => {
    const nixwayPkg = await evalJson<string>(dir, "packages.x86_64-linux.nixway", "toString");
    return (cmd) => cmd.replaceAll(`${nixwayPkg}/bin/nixway`, `${process.execPath} ${path.join(REPO_ROOT, "bin", "nixway.js")}`);
  };

  test("check service-yaml passes on the read-only store copy of the source", async () => {
    const r = await runCheck("checks.x86_64-linux.service-yaml", await localCli());
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });

  // The CLI runs from another path than the source it checks: the programs' import of the
  // component must depend on the checkout, not on where nixway is installed.
  test("check generated passes on the read-only store copy of the source", async () => {
    const r = await runCheck("checks.x86_64-linux.generated", await localCli());
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });

  test("check hello-typecheck runs tsc on the Pulumi program with the repository's tsconfig", async () => {
    const nodeModules = mkdtempSync(path.join(os.tmpdir(), "nixway-node-modules-"));
    try {
      symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(nodeModules, "node_modules"));
      const env = await derivationEnv(dir, "checks.x86_64-linux.hello-typecheck");
      const nm = /ln -s (\/nix\/store\/[^/ ]+)\/node_modules node_modules/.exec(env.buildCommand);
      assert.ok(nm, env.buildCommand);
      const r = await runCheck("checks.x86_64-linux.hello-typecheck", (cmd) => cmd.replaceAll(nm[1], nodeModules));
      assert.equal(r.code, 0, r.stderr + r.stdout);
      // The same command fails on a type error in the program.
      const broken = await runCheck("checks.x86_64-linux.hello-typecheck", (cmd) =>
        cmd.replaceAll(nm[1], nodeModules).replace("\ncd work\n", "\ncd work\necho 'const n: number = \"x\";' >> services/hello/infra/index.ts\n"),
      );
      assert.notEqual(broken.code, 0);
      assert.match(broken.stdout + broken.stderr, /services\/hello\/infra\/index\.ts\(\d+,\d+\): error TS2322/);
    } finally {
      rmSync(nodeModules, { recursive: true, force: true });
    }
  });

  test("each app reaches an existing nixway command (run with the real CLI, --help)", async () => {
    const bin = mkdtempSync(path.join(os.tmpdir(), "nixway-cli-bin-"));
    try {
      writeFileSync(path.join(bin, "nixway"), `#!/bin/sh\nexec ${process.execPath} ${path.join(REPO_ROOT, "bin", "nixway.js")} "$@"\n`, { mode: 0o755 });
      for (const verb of VERBS) {
        const { text } = await derivationEnv(dir, `apps.x86_64-linux.${verb}-hello.program`);
        const script = path.join(bin, `${verb}-hello`);
        writeFileSync(script, text);
        const r = await run(["bash", script, "--help"], { env: { PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: bin }, timeoutMs: 60_000 });
        assert.equal(r.code, 0, `${verb}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^Usage: nixway ${verb} SERVICE`), verb);
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  test("a darwin deploy app without an x86_64-linux builder says so; with one it calls nixway with the archive", async () => {
    const { text } = await derivationEnv(dir, "apps.aarch64-darwin.deploy-hello.program");
    const bin = mkdtempSync(path.join(os.tmpdir(), "nixway-fake-bin-"));
    try {
      const script = path.join(bin, "deploy-hello");
      writeFileSync(script, text);
      const calls = path.join(bin, "calls");
      writeFileSync(path.join(bin, "nixway"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${calls}\n`, { mode: 0o755 });
      // A nix-store that cannot build x86_64-linux, like a Mac without a builder.
      writeFileSync(
        path.join(bin, "nix-store"),
        `#!/bin/sh\necho "error: a 'x86_64-linux' with features {} is required to build '$2', but I am a 'aarch64-darwin'" >&2\nexit 1\n`,
        { mode: 0o755 },
      );
      const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: bin };
      let r = await run(["bash", script, "--stack", "testing"], { env });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /could not build the x86_64-linux image of hello on this aarch64-darwin machine/);
      assert.match(r.stderr, /an x86_64-linux builder is needed/);
      assert.ok(!existsSync(calls), "nixway is not called without an image");
      // Now a builder is there: nix-store prints the archive path.
      writeFileSync(path.join(bin, "nix-store"), `#!/bin/sh\necho /nix/store/00000000000000000000000000000000-hello.tar.gz\n`, { mode: 0o755 });
      r = await run(["bash", script, "--stack", "testing"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readFileSync(calls, "utf8").trim().split("\n"), [
        "deploy",
        "hello",
        "--archive",
        "/nix/store/00000000000000000000000000000000-hello.tar.gz",
        "--stack",
        "testing",
      ]);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe("a new service appears in the flake after generate", () => {
  let dir: string;
  before(async () => {
    dir = await makeFlakeRepo({
      overlay: TRICKY,
      extra: async (d) => {
        const r = await run([process.execPath, path.join(REPO_ROOT, "bin", "nixway.js"), "generate", "--root", d], { env: process.env, timeoutMs: 120_000 });
        assert.equal(r.code, 0, r.stderr);
      },
    });
  });
  after(() => removeFlakeRepo(dir));

  test("apps and checks of 9-tricky on every system; flake check --no-build passes", async () => {
    const apps = await evalJson<Record<string, string[]>>(dir, "apps", "a: builtins.mapAttrs (s: builtins.attrNames) a");
    for (const system of SYSTEMS) {
      assert.deepEqual(apps[system], [...VERBS.map((v) => `${v}-9-tricky`), ...VERBS.map((v) => `${v}-hello`)].sort());
    }
    const checks = await evalJson<string[]>(dir, "checks.x86_64-linux", "builtins.attrNames");
    for (const c of ["9-tricky-image", "9-tricky-smoke", "9-tricky-typecheck"]) assert.ok(checks.includes(c), c);
    const r = await flakeCheckNoBuild(dir);
    assert.equal(r.code, 0, r.stderr);
  });

  test("the smoke check hands the hostile environment to the app intact, and the app answers", async () => {
    // Run the check's own build command with `bash` captured, then the real smoke-check.sh with
    // those arguments, store paths swapped for local ones (bun, the probe, the fixture's app).
    const env = await derivationEnv(dir, "checks.x86_64-linux.9-tricky-smoke");
    const work = mkdtempSync(path.join(os.tmpdir(), "nixway-smoke-"));
    try {
      const argsFile = path.join(work, "args");
      const capture = `bash() { printf '%s\\0' "$@" > ${argsFile}; }\nout=${work}/out\n${env.buildCommand}`;
      await mustRun(["bash", "-c", capture]);
      const args = readFileSync(argsFile, "utf8").split("\0").slice(0, -1);
      assert.match(args[0], /-smoke-check\.sh$/);
      const appFiles = await evalJson<string>(dir, "packages.x86_64-linux.9-tricky.appFiles", "toString");
      const localApp = path.join(TRICKY, "services", "tricky", "src", "app-v2");
      const bun = realpathSync(BUN);
      const local = args.slice(1).map((a) =>
        a.startsWith(`${appFiles}/app`)
          ? a.replace(`${appFiles}/app`, localApp)
          : /-bun-[^/]+\/bin\/bun$/.test(a)
            ? bun
            : a.endsWith("-smoke-probe.ts")
              ? path.join(REPO_ROOT, "nix", "smoke-probe.ts")
              : a,
      );
      assert.deepEqual(local.slice(2, 5), ["3000", "/health/$x'()&;=:@", "ok"]);
      assert.ok(local.includes("WEIRD=a ${b} \\c \"d\" 'e' $(f) `g` ''h'' $${i}\nnew line\ttab \\"));
      assert.ok(local.includes("EMPTY="));
      assert.ok(local.includes("DB_PASSWORD=nixway-smoke-check-placeholder"));
      local[2] = String(20000 + Math.floor(Math.random() * 20000)); // a free port here, not 3000
      const r = await run(["bash", path.join(REPO_ROOT, "nix", "smoke-check.sh"), ...local], { env: { ...process.env, NIXWAY_SMOKE_TIMEOUT: "20" }, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /answered 200/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe("nix/smoke-check.sh with bun", () => {
  const hello = path.join(REPO_ROOT, "services", "hello", "app");
  const port = () => String(20000 + Math.floor(Math.random() * 20000));
  const smoke = (args: string[], timeout = "20") =>
    run(["bash", path.join(REPO_ROOT, "nix", "smoke-check.sh"), realpathSync(BUN), path.join(REPO_ROOT, "nix", "smoke-probe.ts"), ...args], {
      env: { ...process.env, NIXWAY_SMOKE_TIMEOUT: timeout },
      timeoutMs: 60_000,
    });

  test("the hello service answers its health path on PORT", async () => {
    const r = await smoke([port(), "/health", "ok", hello, "GREETING=hi", "--", realpathSync(BUN), path.join(hello, "index.ts")]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("an entry that crashes fails fast with the app's output", async () => {
    const r = await smoke([port(), "/health", "ok", hello, "--", realpathSync(BUN), path.join(hello, "missing.ts")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the app exited before/);
    assert.match(r.stderr, /--- output of the app ---/);
  });

  test("an app listening on another port than PORT fails (the runbook's 'ready but 502')", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "nixway-wrong-port-"));
    try {
      const other = port();
      writeFileSync(path.join(dir, "index.ts"), `Bun.serve({ hostname: "0.0.0.0", port: ${other}, fetch: () => new Response("ok") });\n`);
      const r = await smoke([port(), "/health", "ok", dir, "--", realpathSync(BUN), path.join(dir, "index.ts")], "2");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no HTTP answer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a health path answering 500 fails with ok, passes with any", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "nixway-500-"));
    try {
      writeFileSync(path.join(dir, "index.ts"), `Bun.serve({ hostname: "0.0.0.0", port: Number(process.env.PORT), fetch: () => new Response("no", { status: 500 }) });\n`);
      let r = await smoke([port(), "/health", "ok", dir, "--", realpathSync(BUN), path.join(dir, "index.ts")], "2");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /answered 500, expected a 2xx status/);
      r = await smoke([port(), "/", "any", dir, "--", realpathSync(BUN), path.join(dir, "index.ts")], "5");
      assert.equal(r.code, 0, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("nix/check-image.sh on docker-archives made like stream_layered_image.py makes them", () => {
  const H = (c: string) => c.repeat(32);
  const bunPath = `/nix/store/${H("b")}-bun-1.2.14`;
  const appPath = `/nix/store/${H("a")}-hello-app`;
  const glibcPath = `/nix/store/${H("g")}-glibc-2.40`;
  const bashPath = `/nix/store/${H("s")}-bash-5.2p37`;
  const goodConfig = {
    Cmd: [`${bunPath}/bin/bun`, `${appPath}/app/index.ts`],
    WorkingDir: `${appPath}/app`,
    ExposedPorts: { "8080/tcp": {} },
    User: "65534:65534",
    Env: ["SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"],
  };
  let work: string;
  before(() => {
    work = mkdtempSync(path.join(os.tmpdir(), "nixway-image-check-"));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** Builds an archive: each layer a list of store paths (the last one the customisation layer). */
  function archive(name: string, layers: string[][], imageConfig: Record<string, unknown>): string {
    const root = path.join(work, name);
    const tree = path.join(root, "tree");
    const out = path.join(root, "image");
    mkdirSync(out, { recursive: true });
    const layerNames: string[] = [];
    layers.forEach((paths, i) => {
      for (const p of paths) {
        mkdirSync(path.join(tree, p, "bin"), { recursive: true });
        writeFileSync(path.join(tree, p, "bin", "file"), p);
      }
      const layer = `layer${i}/layer.tar`;
      mkdirSync(path.join(out, `layer${i}`));
      // Absolute member names, like the Python tarfile writer: /nix, /nix/store, then each path.
      const rels = paths.map((p) => p.slice(1));
      const r = spawnSync(
        "tar",
        ["-P", "--transform=s,^nix,/nix,", "-C", tree, "-cf", path.join(out, layer), "--no-recursion", "nix", "nix/store", "--recursion", ...rels],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 0, r.stderr);
      layerNames.push(layer);
    });
    // The customisation layer: CA certificates and /tmp.
    mkdirSync(path.join(root, "custom", "etc", "ssl", "certs"), { recursive: true });
    mkdirSync(path.join(root, "custom", "tmp"), { recursive: true });
    writeFileSync(path.join(root, "custom", "etc", "ssl", "certs", "ca-bundle.crt"), "certs");
    mkdirSync(path.join(out, "custom"));
    spawnSync("tar", ["-C", path.join(root, "custom"), "-cf", path.join(out, "custom", "layer.tar"), "."]);
    layerNames.push("custom/layer.tar");
    writeFileSync(path.join(out, "config.json"), JSON.stringify(imageConfig));
    writeFileSync(path.join(out, "manifest.json"), JSON.stringify([{ Config: "config.json", RepoTags: ["hello:x"], Layers: layerNames }]));
    const file = path.join(root, "hello.tar.gz");
    const r = spawnSync("tar", ["-C", out, "-czf", file, "."], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return file;
  }

  function check(file: string, contents = "minimal", expected: Record<string, unknown> = goodConfig) {
    const exp = path.join(path.dirname(file), "expected.json");
    writeFileSync(exp, JSON.stringify(expected));
    chmodSync(exp, 0o644);
    return run(["bash", path.join(REPO_ROOT, "nix", "check-image.sh"), file, appPath, "8080", contents, exp], { env: process.env, timeoutMs: 60_000 });
  }

  const imageJson = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    created: "1970-01-01T00:00:01+00:00",
    architecture: "amd64",
    os: "linux",
    config,
    ...extra,
  });

  test("a good image passes", async () => {
    const r = await check(archive("good", [[glibcPath], [bunPath], [appPath]], imageJson(goodConfig)));
    assert.equal(r.code, 0, r.stderr);
  });

  test("app files sharing a layer, a shell, arm64, /usr/bin/env and root are each reported", async () => {
    const bad = { ...goodConfig, Cmd: ["/usr/bin/env", "bun", `${appPath}/app/index.ts`], User: "0:0" };
    const r = await check(archive("bad", [[glibcPath, bashPath], [bunPath, appPath]], imageJson(bad, { architecture: "arm64" })), "minimal", bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /platform is linux\/arm64/);
    assert.match(r.stderr, /Cmd must be \[ <bun store path>\/bin\/bun, <entry> \]/);
    assert.match(r.stderr, /uses \/usr\/bin\/env/);
    assert.match(r.stderr, /User must be a numeric non-root uid/);
    assert.match(r.stderr, /the app files share layer layer1\/layer.tar with: nix\/store\/b{32}-bun-1\.2\.14/);
    assert.match(r.stderr, /a shell or coreutils is in layer layer0\/layer.tar/);
  });

  test("a config other than the one image.nix asked for is reported; extra packages allow a shell", async () => {
    const r = await check(archive("other", [[glibcPath, bashPath], [bunPath], [appPath]], imageJson({ ...goodConfig, ExposedPorts: { "3000/tcp": {} } })), "extra-packages");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the image config differs/);
    assert.match(r.stderr, /ExposedPorts lacks 8080\/tcp/);
    assert.doesNotMatch(r.stderr, /a shell or coreutils/);
  });
});
