// Runs the nixway CLI for tests: in-process through main(argv, io) (fast, used by most tests), or as a
// real child process through bin/nixway.js (what users run), capturing exit status, stdout and stderr.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../generator/cli.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = path.join(REPO_ROOT, "bin", "nixway.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `nixway ARGV` in this process, output captured. */
export async function runCli(argv: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

/** `node bin/nixway.js ARGV` as a child process (bounded: 60 s). */
export function spawnCli(argv: string[], opts: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...argv],
      { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, NIXWAY_DEBUG: "" }, timeout: 60_000, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") return reject(err);
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}
