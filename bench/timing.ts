// Wall-clock timing for the benchmarks: one measurement, and the median of a few (the median, not
// the mean, because other work on a small machine adds outliers in one direction only).

/** Seconds `fn` took, wall clock, and what it returned. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, value };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface Peers {
  /** Median seconds of each contender, by name. */
  [name: string]: number;
}

export interface Untimed {
  /** Before every timed call (e.g. moving a tag back so that each promote has work to do). */
  before?: (name: string) => Promise<void>;
  /** After every timed call, with what it returned (e.g. checking what it uploaded). */
  after?: (name: string, value: unknown) => Promise<void>;
}

/**
 * Times several contenders `reps` times each, interleaved (a, b, a, b, ...) so that a slow patch of
 * the machine hits all of them alike. The hooks run around each call, outside the timing.
 */
export async function interleavedMedians(reps: number, contenders: Record<string, () => Promise<unknown>>, hooks: Untimed = {}): Promise<Peers> {
  const samples: Record<string, number[]> = {};
  for (const name of Object.keys(contenders)) samples[name] = [];
  for (let i = 0; i < reps; i++) {
    for (const [name, fn] of Object.entries(contenders)) {
      if (hooks.before) await hooks.before(name);
      const { seconds, value } = await timed(fn);
      if (hooks.after) await hooks.after(name, value);
      samples[name].push(seconds);
    }
  }
  const out: Peers = {};
  for (const [name, s] of Object.entries(samples)) out[name] = median(s);
  return out;
}
