// `npm run bench`: every benchmark figure of nixway, measured side by side in one run with the real
// tools of this machine, printed one `name: value` line each and written to bench/results.json
// with the targets they are held to. What each figure times is in results.json's "method".
//
//   BENCH_QUICK=1          a smoke run (2 services, a 1 MB image, one repetition): checks the harness
//                          works; its figures mean nothing
//   BENCH_RESULTS=FILE     write the results there instead of bench/results.json
//   BENCH_ONLY=a,b         run only these sections: generate, registry, nix (results then go to
//                          bench/results.partial.json unless BENCH_RESULTS says otherwise, so a
//                          partial run never replaces the full run's figures)
import os from "node:os";
import path from "node:path";
import { run } from "../generator/proc.ts";
import { benchGenerate, type GenerateBenchConfig } from "./generate.ts";
import { benchNixEval, type NixEvalBenchConfig } from "./nix-eval.ts";
import { benchRegistry, sizeOf, type RegistryBenchConfig } from "./registry.ts";
import { Report, writeResults, type Target } from "./report.ts";
import { REPO_ROOT } from "./synthetic.ts";

interface BenchConfig {
  mode: "full" | "quick";
  generate: GenerateBenchConfig;
  registry: RegistryBenchConfig;
  nix: NixEvalBenchConfig;
}

const FULL: BenchConfig = {
  mode: "full",
  generate: { sizes: [10, 100, 1000], repsFor: (n) => (n >= 100 ? 3 : 5), validateReps: 3 },
  registry: { sizes: [sizeOf("5mb"), sizeOf("200mb")], reps: 3, gzip: false },
  nix: { sizes: [10, 100], reps: 3 },
};

const QUICK: BenchConfig = {
  mode: "quick",
  generate: { sizes: [1, 2], repsFor: () => 1, validateReps: 1 },
  registry: { sizes: [sizeOf("1mb")], reps: 1, gzip: false },
  nix: { sizes: [1, 2], reps: 1 },
};

/** The targets, for the sizes this run measures. */
function targetsFor(cfg: BenchConfig): Target[] {
  const g = cfg.generate.sizes;
  const [largest, previous] = [g[g.length - 1], g[g.length - 2]];
  const out: Target[] = [
    { figure: `generate.${largest}.seconds`, op: "<", limit: 10, what: `generate of ${largest} services under 10 s (in-process)` },
    { figure: `generate.cli.${largest}.seconds`, op: "<", limit: 10, what: `generate of ${largest} services under 10 s (CLI process)` },
    { figure: `generate.ratio_${largest}_to_${previous}`, op: "<=", limit: 11, what: "linear growth of generate" },
  ];
  for (const s of cfg.registry.sizes) {
    out.push({ figure: `push.noop_to_skopeo_copy.${s.label}.ratio`, op: "<=", limit: 0.3, what: `no-op push at most 0.3x skopeo's plain copy, skopeo with this machine's warm blob-info cache (${s.label})` });
    out.push({ figure: `push.noop_to_skopeo_copy_cold_cache.${s.label}.ratio`, op: "<=", limit: 0.3, what: `no-op push at most 0.3x skopeo's plain copy, skopeo on a fresh runner (${s.label})` });
    out.push({ figure: `promote.to_skopeo_retag.${s.label}.ratio`, op: "<=", limit: 1, what: `promote at most 1x skopeo's retag (${s.label})` });
    out.push({ figure: `app_only.${s.label}.uploaded_fraction`, op: "<", limit: 0.05, what: `an app-only change uploads under 5% of the image (${s.label})` });
  }
  const r = cfg.registry.sizes;
  if (r.length >= 2) {
    out.push({ figure: `promote.${r[r.length - 1].label}_to_${r[0].label}.ratio`, op: "<=", limit: 1.5, what: "promote time independent of image size" });
  }
  return out;
}

async function toolVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.version };
  for (const [name, argv] of Object.entries({ skopeo: ["skopeo", "--version"], nix: ["nix", "--version"], "docker-registry": ["docker-registry", "--version"] })) {
    try {
      const r = await run(argv, { env: process.env, timeoutMs: 30_000 });
      out[name] = (r.stdout || r.stderr).trim().split("\n")[0];
    } catch {
      out[name] = "not installed";
    }
  }
  return out;
}

async function mainBench(): Promise<number> {
  const cfg = process.env.BENCH_QUICK === "1" ? QUICK : FULL;
  const only = new Set((process.env.BENCH_ONLY ?? "generate,registry,nix").split(",").map((s) => s.trim()));
  const defaultFile = process.env.BENCH_ONLY === undefined ? "results.json" : "results.partial.json";
  const resultsFile = path.resolve(process.env.BENCH_RESULTS ?? path.join(REPO_ROOT, "bench", defaultFile));
  const report = new Report();
  const errors: string[] = [];
  const sections: [string, () => Promise<void>][] = [
    ["generate", () => benchGenerate(report, cfg.generate)],
    ["registry", () => benchRegistry(report, cfg.registry)],
    ["nix", () => benchNixEval(report, cfg.nix)],
  ];
  const started = Date.now();
  const loadAtStart = os.loadavg()[0];
  for (const [name, section] of sections) {
    if (!only.has(name)) continue;
    try {
      await section();
    } catch (err) {
      // Keep going: the other sections' figures are still worth having; the run fails at the end.
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      errors.push(`${name}: ${message}`);
      process.stderr.write(`bench ${name} failed: ${message}\n`);
    }
  }
  report.add("bench.total_seconds", (Date.now() - started) / 1000);

  const results = report.results({ mode: cfg.mode, tools: await toolVersions(), targets: targetsFor(cfg), loadAtStart });
  for (const t of results.targets) {
    if (t.value === null) continue;
    process.stdout.write(`target ${t.figure} ${t.op} ${t.limit}: ${t.met ? "met" : "MISSED"} (${t.value})\n`);
  }
  writeResults(resultsFile, errors.length ? { ...results, errors } : results);
  process.stdout.write(`wrote ${path.relative(process.cwd(), resultsFile) || resultsFile}\n`);
  return errors.length ? 1 : 0;
}

process.exitCode = await mainBench();
