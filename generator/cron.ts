// Five-field cron (minute hour day-of-month month day-of-week), as Scaleway's container
// cron triggers accept. Parsed here so a bad schedule fails at validate time with a
// position, and so `plan` can say how many wake-ups a day a keep-warm schedule costs.

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"] },
  // 0 and 7 are both Sunday.
  { name: "day-of-week", min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

export interface CronSchedule {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  daysOfWeek: ReadonlySet<number>;
  /** Whether day-of-month / day-of-week were restricted (cron ORs them when both are). */
  domRestricted: boolean;
  dowRestricted: boolean;
}

export type CronResult = { ok: true; schedule: CronSchedule } | { ok: false; error: string };

function parseValue(text: string, spec: FieldSpec): number | string {
  const upper = text.toUpperCase();
  if (spec.names) {
    const idx = spec.names.indexOf(upper);
    if (idx >= 0) return spec.name === "month" ? idx + 1 : idx;
  }
  if (!/^\d+$/.test(text)) return `'${text}' is not a number${spec.names ? ` or a name (${spec.names.join(", ")})` : ""}`;
  const n = Number(text);
  if (n < spec.min || n > spec.max) return `${n} is out of range ${spec.min}-${spec.max}`;
  return n;
}

function parseField(text: string, spec: FieldSpec): Set<number> | string {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m) return `'${part}' is not a cron term (use *, N, A-B, */S, A-B/S or lists of them)`;
    const [, range, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) return `step '${stepText}' must be at least 1`;
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = spec.min;
      hi = spec.max;
    } else {
      const bounds = range.split("-");
      if (bounds.length > 2) return `'${range}' is not a range`;
      const a = parseValue(bounds[0], spec);
      if (typeof a === "string") return a;
      const b = bounds.length === 2 ? parseValue(bounds[1], spec) : stepText !== undefined ? spec.max : a;
      if (typeof b === "string") return b;
      if (b < a) return `range ${range} runs backwards`;
      lo = a;
      hi = b;
    }
    for (let v = lo; v <= hi; v += step) values.add(spec.name === "day-of-week" && v === 7 ? 0 : v);
  }
  return values;
}

export function parseCron(expr: string): CronResult {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) {
    return { ok: false, error: `expected 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}` };
  }
  const sets: Set<number>[] = [];
  for (let i = 0; i < 5; i++) {
    const r = parseField(fields[i], FIELDS[i]);
    if (typeof r === "string") return { ok: false, error: `${FIELDS[i].name} field: ${r}` };
    sets.push(r);
  }
  return {
    ok: true,
    schedule: {
      minutes: sets[0],
      hours: sets[1],
      daysOfMonth: sets[2],
      months: sets[3],
      daysOfWeek: sets[4],
      domRestricted: fields[2] !== "*",
      dowRestricted: fields[4] !== "*",
    },
  };
}

/** Wake-ups on a day the schedule runs at all (minutes x hours). */
export function wakeUpsPerActiveDay(s: CronSchedule): number {
  return s.minutes.size * s.hours.size;
}

/** Days of the week (0 = Sunday) the schedule can fire on, ignoring day-of-month/month restrictions. */
export function activeWeekdays(s: CronSchedule): number[] {
  if (s.dowRestricted && !s.domRestricted) return [...s.daysOfWeek].sort((a, b) => a - b);
  return [0, 1, 2, 3, 4, 5, 6];
}
