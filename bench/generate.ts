// Figures 1 and 2: `nixway generate` on synthetic repositories of growing size, and `nixway
// validate` of the largest.
//
// The main figures run the command in-process (`main(["generate", "--root", DIR])` from
// generator/cli.ts, output discarded): everything the command does (load, validate, emit, write
// every file atomically with fsync, manifest), without the ~0.5 s of Node and tsx start-up, which
// is paid once per invocation and would blur the growth ratio. The same command as a child process
// (`node bin/nixway.js generate`) is measured once on the largest repository for the user's view.
// Each timed generate starts from a fresh repository (only service.yaml and app files), so every
// file is written.
import { existsSync } from "node:fs";
import path from "node:path";
import { main } from "../generator/cli.ts";
import type { CommandIo } from "../generator/command.ts";
import { emitAll } from "../generator/emit/index.ts";
import { run } from "../generator/proc.ts";
import { loadRepo } from "../generator/repo.ts";
import { writeGenerated } from "../generator/write.ts";
import type { Report } from "./report.ts";
import { makeSyntheticRepo, REPO_ROOT } from "./synthetic.ts";
import { median, timed } from "./timing.ts";

const BIN = path.join(REPO_ROOT, "bin", "nixway.js");

export interface GenerateBenchConfig {
  /** Repository sizes, ascending; the last two give the growth ratio and the marginal cost. */
  sizes: number[];
  /** Timed repetitions per size (fresh repository each); the median is reported. */
  repsFor(size: number): number;
  validateReps: number;
}

/** Runs `nixway ARGV` in this process; throws with its stderr when it fails. */
async function inProcess(argv: string[]): Promise<void> {
  let stderr = "";
  const io: CommandIo = { stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) } };
  const code = await main(argv, io);
  if (code !== 0) throw new Error(`nixway ${argv.join(" ")} exited ${code}:\n${stderr}`);
}

/** Runs `node bin/nixway.js ARGV` as a child process; throws with its stderr when it fails. */
async function asChild(argv: string[]): Promise<void> {
  const r = await run([process.execPath, BIN, ...argv], { env: process.env, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`nixway ${argv.join(" ")} exited ${r.code ?? r.signal}:\n${r.stderr}`);
}

function assertGenerated(root: string, services: string[]): void {
  // Spot check: the last service got its image Nix, so the run did cover every service.
  const last = services[services.length - 1];
  if (!existsSync(path.join(root, "services", last, "image.nix"))) throw new Error(`generate left no services/${last}/image.nix`);
}

/** One fresh generate, in-process: seconds. */
async function freshGenerate(n: number, how: "in-process" | "child"): Promise<number> {
  const repo = makeSyntheticRepo(n);
  try {
    const argv = ["generate", "--root", repo.root];
    const { seconds } = await timed(() => (how === "child" ? asChild(argv) : inProcess(argv)));
    assertGenerated(repo.root, repo.services);
    return seconds;
  } finally {
    repo.remove();
  }
}

export async function benchGenerate(report: Report, cfg: GenerateBenchConfig): Promise<void> {
  const sizes = [...cfg.sizes].sort((a, b) => a - b);
  const largest = sizes[sizes.length - 1];
  const previous = sizes[sizes.length - 2];
  report.describe(
    "generate",
    "in-process `nixway generate --root DIR` (generator/cli.ts main, output discarded) on a fresh synthetic repo of N copies of " +
      "services/hello (every file written, fsync'ed and renamed); median of the repetitions per size; after a warm-up run on 1 service. " +
      "generate.cli.N: the same as a child process `node bin/nixway.js generate` (adds Node + tsx start-up, module loading and a cold JIT), same repetitions. generate.noop.N: a second " +
      "in-process run on the same repo (nothing to write). generate.phase.*: one more fresh run split into its stages (loadRepo, emitAll, writeGenerated).",
  );

  await freshGenerate(1, "in-process"); // warm-up: module loading (ts-morph, TypeScript) and JIT, not charged to the first size

  const seconds = new Map<number, number>();
  for (const n of sizes) {
    const samples: number[] = [];
    for (let i = 0; i < cfg.repsFor(n); i++) samples.push(await freshGenerate(n, "in-process"));
    seconds.set(n, report.add(`generate.${n}.seconds`, median(samples)));
  }
  if (previous !== undefined) {
    const dt = seconds.get(largest)! - seconds.get(previous)!;
    report.add(`generate.marginal_ms_per_service`, (dt / (largest - previous)) * 1000);
    report.add(`generate.ratio_${largest}_to_${previous}`, seconds.get(largest)! / seconds.get(previous)!);
  }

  // Where the time goes, on the largest size: the three stages of the command, timed separately.
  {
    const repo = makeSyntheticRepo(largest);
    try {
      const load = await timed(() => loadRepo(repo.root, []));
      const emit = await timed(async () => emitAll(load.value));
      const write = await timed(() => writeGenerated(repo.root, emit.value));
      report.add(`generate.phase.${largest}.load_seconds`, load.seconds);
      report.add(`generate.phase.${largest}.emit_seconds`, emit.seconds);
      report.add(`generate.phase.${largest}.write_seconds`, write.seconds);
      report.add(`generate.phase.${largest}.files`, emit.value.length);

      // The same repository again: everything is up to date, nothing is written.
      const noop = await timed(() => inProcess(["generate", "--root", repo.root]));
      report.add(`generate.noop.${largest}.seconds`, noop.seconds);

      report.describe("validate", "`nixway validate --root DIR` on the largest synthetic repo: in-process median (validate.N), and once as a child process (validate.cli.N)");
      const validate: number[] = [];
      for (let i = 0; i < cfg.validateReps; i++) validate.push((await timed(() => inProcess(["validate", "--root", repo.root]))).seconds);
      report.add(`validate.${largest}.seconds`, median(validate));
      report.add(`validate.cli.${largest}.seconds`, (await timed(() => asChild(["validate", "--root", repo.root]))).seconds);
    } finally {
      repo.remove();
    }
  }

  const cli: number[] = [];
  for (let i = 0; i < cfg.repsFor(largest); i++) cli.push(await freshGenerate(largest, "child"));
  report.add(`generate.cli.${largest}.seconds`, median(cli));
}
