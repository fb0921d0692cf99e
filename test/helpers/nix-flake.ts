// Evaluating nixway's flake in tests: nixpkgs cannot be fetched here, so every evaluation
// overrides the nixpkgs input with the strict test double (test/nix-double). A flake inside a git
// repository sees only files git knows, so the tree under test is copied into a fresh temp git
// repository with every file added (nothing is committed; /work's own repo is never touched).
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { run, type RunResult } from "../../generator/proc.ts";
import { REPO_ROOT } from "./nixway-cli.ts";

export const NIX_DOUBLE = path.join(REPO_ROOT, "test", "nix-double");

/** The environment for nix commands: flakes on, nothing else changed. */
export function nixEnv(): NodeJS.ProcessEnv {
  return { ...process.env, NIX_CONFIG: "experimental-features = nix-command flakes" };
}

/** Fails (never skips) when a tool the test needs is missing. */
export async function requireTool(tool: string, versionArg = "--version"): Promise<void> {
  try {
    const r = await run([tool, versionArg], { env: process.env, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(r.stderr);
  } catch (err) {
    throw new Error(`${tool} is required by this test and is not usable: ${err instanceof Error ? err.message : err} (CI installs it: see .ci/run)`);
  }
}

/** Runs a command; throws with its output when it fails. */
export async function mustRun(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  const r = await run(argv, { cwd: opts.cwd, env: opts.env ?? process.env, input: opts.input, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

const SKIP_TOP = new Set(["node_modules", ".git", ".tmp", "result", "bench"]);

/**
 * A temp git repository holding the files of `from` (default: this repository; node_modules,
 * .git and .tmp left out), then `overlay`'s files on top, every file `git add`ed.
 */
export async function makeFlakeRepo(opts: { from?: string; overlay?: string; extra?: (dir: string) => Promise<void> } = {}): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "nixway-flake-"));
  const from = opts.from ?? REPO_ROOT;
  cpSync(from, dir, {
    recursive: true,
    filter: (src) => {
      const rel = path.relative(from, src);
      return rel === "" || !SKIP_TOP.has(rel.split(path.sep)[0]);
    },
  });
  if (opts.overlay) cpSync(opts.overlay, dir, { recursive: true });
  if (opts.extra) await opts.extra(dir);
  await mustRun(["git", "init", "-q"], { cwd: dir });
  await mustRun(["git", "add", "-A"], { cwd: dir });
  return dir;
}

export function removeFlakeRepo(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

const OVERRIDE = ["--override-input", "nixpkgs", `path:${NIX_DOUBLE}`, "--no-write-lock-file"];

/** `nix eval --json .#ATTR [--apply FN]` against the test double, parsed. */
export async function evalJson<T = unknown>(dir: string, attr: string, apply?: string): Promise<T> {
  const r = await mustRun(["nix", "eval", "--json", `.#${attr}`, ...(apply ? ["--apply", apply] : []), ...OVERRIDE], { cwd: dir, env: nixEnv() });
  return JSON.parse(r.stdout) as T;
}

/** `nix eval` that is expected to fail: its stderr. */
export async function evalError(dir: string, attr: string, apply?: string): Promise<string> {
  const r = await run(["nix", "eval", "--json", `.#${attr}`, ...(apply ? ["--apply", apply] : []), ...OVERRIDE], { cwd: dir, env: nixEnv(), timeoutMs: 300_000 });
  if (r.code === 0) throw new Error(`nix eval .#${attr} succeeded, expected a failure: ${r.stdout}`);
  return r.stderr;
}

/** `nix flake check --no-build` against the double: evaluates every output of every system. */
export async function flakeCheckNoBuild(dir: string): Promise<RunResult> {
  return run(["nix", "flake", "check", "--no-build", ...OVERRIDE], { cwd: dir, env: nixEnv(), timeoutMs: 300_000 });
}

/** The environment of the derivation behind a string (an app's program, a check's outPath). */
export async function derivationEnv(dir: string, attr: string): Promise<Record<string, string>> {
  const drv = await evalJson<string>(dir, attr, "v: builtins.head (builtins.attrNames (builtins.getContext (toString v)))");
  const shown = await mustRun(["nix", "show-derivation", drv], { env: nixEnv() });
  const parsed = JSON.parse(shown.stdout) as Record<string, { env: Record<string, string> }>;
  return Object.values(parsed)[0].env;
}

/** `nix eval --json --impure --expr EXPR` (for importing a file with the double's packages). */
export async function evalExpr<T = unknown>(expr: string, cwd = REPO_ROOT): Promise<T> {
  const r = await mustRun(["nix", "eval", "--json", "--impure", "--expr", expr], { cwd, env: nixEnv() });
  return JSON.parse(r.stdout) as T;
}

/** Nix source of the double's packages for `system`. */
export function doublePkgs(system = "x86_64-linux"): string {
  return `(import ${NIX_DOUBLE}/pkgs.nix { system = "${system}"; })`;
}
