// The figures of one benchmark run: printed as they are measured (one `name: value` line each),
// then compared with the targets and written to bench/results.json.
import { writeFileSync } from "node:fs";
import os from "node:os";

export type FigureValue = number;

export interface Target {
  /** The figure the target is about. */
  figure: string;
  /** "<" or "<=": every target here is an upper bound. */
  op: "<" | "<=";
  limit: number;
  /** What the target means, for the report. */
  what: string;
}

export interface TargetResult extends Target {
  value: number | null;
  met: boolean | null;
}

export interface Results {
  comment: string;
  command: string;
  mode: "full" | "quick";
  date: string;
  /** Load averages (1 min) at the start and the end of the run: other work on the machine skews timings. */
  machine: { cpus: number; memoryGB: number; platform: string; node: string; loadAverage1m: { start: number; end: number } };
  tools: Record<string, string>;
  /** How each figure was measured (what is timed, repetitions). */
  method: Record<string, string>;
  figures: Record<string, FigureValue>;
  targets: TargetResult[];
  /** Sections that failed (the run then exits 1). */
  errors?: string[];
}

/** Rounds for display and storage: 4 significant digits, integers (byte counts) as they are. */
export function round(value: number): number {
  if (!Number.isFinite(value)) throw new Error(`not a finite figure: ${value}`);
  if (Number.isInteger(value)) return value;
  return Number(value.toPrecision(4));
}

export class Report {
  readonly figures: Record<string, FigureValue> = {};
  readonly method: Record<string, string> = {};
  private readonly out: (line: string) => void;

  constructor(out: (line: string) => void = (line) => process.stdout.write(line + "\n")) {
    this.out = out;
  }

  /** Records and prints one figure. */
  add(name: string, value: number): number {
    if (Object.hasOwn(this.figures, name)) throw new Error(`figure ${name} measured twice`);
    const v = round(value);
    this.figures[name] = v;
    this.out(`${name}: ${v}`);
    return value;
  }

  /** How a group of figures was measured (written to results.json, not printed per figure). */
  describe(prefix: string, text: string): void {
    this.method[prefix] = text;
  }

  /** Each target with the measured value; figures this run did not measure (quick mode) are null. */
  checkTargets(targets: readonly Target[]): TargetResult[] {
    return targets.map((t) => {
      const value = Object.hasOwn(this.figures, t.figure) ? this.figures[t.figure] : null;
      const met = value === null ? null : t.op === "<" ? value < t.limit : value <= t.limit;
      return { ...t, value, met };
    });
  }

  results(opts: { mode: "full" | "quick"; tools: Record<string, string>; targets: readonly Target[]; loadAtStart: number }): Results {
    return {
      comment: "Written by `npm run bench` (bench/run.ts); the latest run's figures. Timings are wall-clock seconds; ratios are unitless.",
      command: "npm run bench",
      mode: opts.mode,
      date: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        memoryGB: Math.round(os.totalmem() / 2 ** 30),
        platform: `${process.platform}-${process.arch}`,
        node: process.version,
        loadAverage1m: { start: round(opts.loadAtStart), end: round(os.loadavg()[0]) },
      },
      tools: opts.tools,
      method: this.method,
      figures: this.figures,
      targets: this.checkTargets(opts.targets),
    };
  }
}

export function writeResults(file: string, results: Results): void {
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
}
