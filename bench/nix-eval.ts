// Figure 6: `nix eval` of the flake's outputs with 10 and 100 services, against the strict nixpkgs
// test double (nixpkgs cannot be fetched on this machine), the way test/nix.test.ts evaluates it:
// a copy of this repository (its own services left out) with N synthetic services and their
// generated files, in a fresh temp git repository (flakes see git-tracked files only), and
// `--override-input nixpkgs path:test/nix-double`.
//
// One evaluation = three `nix eval --json` processes that force every output a user or CI touches:
// the drvPath of every x86_64-linux package (images, apps' packages, nixway), the program of every
// app on every system, and the drvPath of every check.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { main } from "../generator/cli.ts";
import type { CommandIo } from "../generator/command.ts";
import { run } from "../generator/proc.ts";
import type { Report } from "./report.ts";
import { REPO_ROOT, writeServices } from "./synthetic.ts";
import { median, timed } from "./timing.ts";

const NIX_DOUBLE = path.join(REPO_ROOT, "test", "nix-double");
/** Not part of the flake a user has: nixway's own tests and benchmarks, build output, the example services. */
const LEFT_OUT = new Set(["node_modules", ".git", ".tmp", ".nixway", "result", "bench", "test", "services"]);
const OVERRIDE = ["--override-input", "nixpkgs", `path:${NIX_DOUBLE}`, "--no-write-lock-file"];

export interface NixEvalBenchConfig {
  sizes: number[];
  reps: number;
}

function nixEnv(): NodeJS.ProcessEnv {
  return { ...process.env, NIX_CONFIG: "experimental-features = nix-command flakes" };
}

async function must(argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const r = await run(argv, { cwd, env, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} exited ${r.code ?? r.signal}:\n${r.stderr}`);
  return r.stdout;
}

async function makeFlake(n: number): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `nixway-bench-flake-${n}-`));
  try {
    cpSync(REPO_ROOT, dir, {
      recursive: true,
      filter: (src) => {
        const rel = path.relative(REPO_ROOT, src);
        return rel === "" || !LEFT_OUT.has(rel.split(path.sep)[0]);
      },
    });
    writeServices(dir, n);
    let stderr = "";
    const io: CommandIo = { stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) } };
    const code = await main(["generate", "--root", dir], io);
    if (code !== 0) throw new Error(`nixway generate (flake with ${n} services) exited ${code}:\n${stderr}`);
    await must(["git", "init", "-q"], dir);
    await must(["git", "add", "-A"], dir);
    return dir;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function evalJson(dir: string, attr: string, apply: string): Promise<Record<string, unknown>> {
  return JSON.parse(await must(["nix", "eval", "--json", `.#${attr}`, "--apply", apply, ...OVERRIDE], dir, nixEnv())) as Record<string, unknown>;
}

/** Forces every package, app and check; returns how many apps x86_64-linux has (5 per service). */
async function evalOutputs(dir: string): Promise<number> {
  await evalJson(dir, "packages.x86_64-linux", "builtins.mapAttrs (n: p: p.drvPath)");
  const apps = (await evalJson(dir, "apps", "builtins.mapAttrs (s: builtins.mapAttrs (n: a: a.program))")) as Record<string, Record<string, string>>;
  await evalJson(dir, "checks.x86_64-linux", "builtins.mapAttrs (n: c: c.drvPath)");
  return Object.keys(apps["x86_64-linux"] ?? {}).length;
}

export async function benchNixEval(report: Report, cfg: NixEvalBenchConfig): Promise<void> {
  for (const tool of ["nix", "git"]) {
    const r = await run([tool, "--version"], { env: process.env, timeoutMs: 30_000 }).catch((err: Error) => ({ code: -1, stderr: err.message }));
    if (r.code !== 0) throw new Error(`bench: ${tool} is required (apt-get install ${tool === "nix" ? "nix-bin" : "git"}): ${r.stderr}`);
  }
  report.describe(
    "nix_eval",
    "flake = this repo without its services/test/bench + N copies of services/hello, generated, in a temp git repo; one evaluation = " +
      "nix eval --json of packages.x86_64-linux (drvPath of each), apps (program of each, all systems) and checks.x86_64-linux (drvPath of each), " +
      `--override-input nixpkgs path:test/nix-double; median of ${cfg.reps}, after one untimed evaluation`,
  );
  const sizes = [...cfg.sizes].sort((a, b) => a - b);
  const seconds = new Map<number, number>();
  for (const n of sizes) {
    const dir = await makeFlake(n);
    try {
      const apps = await evalOutputs(dir); // untimed: warms the store copy of the double and the source
      if (apps !== 5 * n) throw new Error(`bench: the flake with ${n} services has ${apps} x86_64-linux apps, expected ${5 * n}`);
      const samples: number[] = [];
      for (let i = 0; i < cfg.reps; i++) samples.push((await timed(() => evalOutputs(dir))).seconds);
      seconds.set(n, report.add(`nix_eval.${n}.seconds`, median(samples)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (sizes.length >= 2) {
    const [small, large] = [sizes[0], sizes[sizes.length - 1]];
    report.add(`nix_eval.marginal_ms_per_service`, ((seconds.get(large)! - seconds.get(small)!) / (large - small)) * 1000);
    report.add(`nix_eval.ratio_${large}_to_${small}`, seconds.get(large)! / seconds.get(small)!);
  }
}
