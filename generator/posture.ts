// A stack's cold-start posture, as `nixway plan` shows it: does the service scale to zero
// (cold starts expected), stay warm on a keep-warm schedule (how many wake-ups a day, on
// which days), or keep instances running (minScale >= 1)? Pure: reads only the model.
import { parseCron, wakeUpsPerActiveDay, type CronSchedule } from "./cron.ts";
import type { KeepWarm, StackSettings } from "./model.ts";

export type PostureKind = "scale-to-zero" | "kept-warm" | "always-warm";

export interface Posture {
  kind: PostureKind;
  /** kept-warm only: calls of the keep-warm path on each day the schedule runs. */
  wakeUpsPerDay?: number;
  /**
   * kept-warm only, when the schedule repeats weekly (day-of-month unrestricted):
   * the days of the week it runs on, 0 = Sunday, ascending.
   */
  activeWeekdays?: number[];
  /** One line for humans, e.g. "kept warm on a schedule: 66 wake-ups a day, Mon–Fri 08:00–18:50 (Europe/Paris) ...". */
  summary: string;
}

const WEEKDAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** Longest month lengths (February 29 in leap years): a day-of-month beyond them never comes. */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** Weeks are read Monday first, so "Sat–Sun" is one run and "Mon–Fri" another. */
const WEEK_ORDER = [1, 2, 3, 4, 5, 6, 0];

export function postureOf(settings: StackSettings, keepWarm?: KeepWarm): Posture {
  if (settings.minScale >= 1) {
    const n = settings.minScale;
    const redundant = keepWarm ? "; the keepWarm schedule is redundant here" : "";
    return {
      kind: "always-warm",
      summary: `always warm: minScale ${n} keeps ${n} instance${n === 1 ? "" : "s"} running (no cold starts, billed around the clock)${redundant}`,
    };
  }
  if (!keepWarm) {
    return { kind: "scale-to-zero", summary: "scale to zero: minScale 0, cold starts expected after idle periods" };
  }
  const parsed = parseCron(keepWarm.schedule);
  // The model is validated, so this is a bug rather than bad input.
  if (!parsed.ok) throw new Error(`keepWarm.schedule ${JSON.stringify(keepWarm.schedule)} did not parse: ${parsed.error}`);
  const s = parsed.schedule;
  const days = activeDays(s);
  if (days === undefined) {
    return {
      kind: "scale-to-zero",
      summary: `scale to zero: the keepWarm schedule "${keepWarm.schedule}" never fires (no month has such a day), cold starts expected after idle periods`,
    };
  }
  const perDay = wakeUpsPerActiveDay(s);
  const posture: Posture = {
    kind: "kept-warm",
    wakeUpsPerDay: perDay,
    summary:
      `kept warm on a schedule: ${perDay} wake-up${perDay === 1 ? "" : "s"} a day, ${days.text} ${timeWindow(s)} (${keepWarm.timezone}), ` +
      `GET ${keepWarm.path}; cold starts expected outside those hours`,
  };
  if (days.weekdays) posture.activeWeekdays = days.weekdays;
  return posture;
}

/**
 * Which days the schedule runs on, in words, plus the weekdays when the pattern is weekly.
 * Follows cron.ts's reading: day-of-month and day-of-week are ORed when both are restricted.
 * Undefined when it can never run (e.g. "0 9 30 2 *").
 */
function activeDays(s: CronSchedule): { text: string; weekdays?: number[] } | undefined {
  const months = sorted(s.months);
  const allMonths = months.length === 12;
  const inMonths = allMonths ? "" : ` in ${runs(months, (m) => MONTH_NAMES[m - 1])}`;
  const weekdays = sorted(s.daysOfWeek);
  // Days of the month that exist in at least one selected month.
  const realDom = sorted(s.daysOfMonth).filter((d) => months.some((m) => d <= MONTH_DAYS[m - 1]));

  if (s.domRestricted && s.dowRestricted) {
    if (weekdays.length === 7) return { text: `every day${inMonths}`, weekdays: allMonths ? [...weekdays] : undefined };
    const dom = realDom.length ? `on day${realDom.length === 1 ? "" : "s"} ${runs(realDom, String)} of the month and ` : "";
    return { text: `${dom}on ${weekdayText(weekdays)}${inMonths}` };
  }
  if (s.domRestricted) {
    if (!realDom.length) return undefined;
    return { text: `on day${realDom.length === 1 ? "" : "s"} ${runs(realDom, String)} of the month${inMonths}` };
  }
  const days = s.dowRestricted ? weekdays : [0, 1, 2, 3, 4, 5, 6];
  return { text: `${weekdayText(days)}${inMonths}`, weekdays: allMonths ? days : undefined };
}

/** "08:00–18:50": from the first to the last wake-up of an active day. */
function timeWindow(s: CronSchedule): string {
  const hours = sorted(s.hours);
  const minutes = sorted(s.minutes);
  const first = clock(hours[0], minutes[0]);
  const last = clock(hours[hours.length - 1], minutes[minutes.length - 1]);
  return first === last ? `at ${first}` : `${first}–${last}`;
}

function clock(h: number, m: number): string {
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
}

function weekdayText(days: number[]): string {
  if (days.length === 7) return "every day";
  const ordered = WEEK_ORDER.filter((d) => days.includes(d));
  return runsInOrder(ordered, WEEK_ORDER, (d) => WEEKDAY_NAMES[d]);
}

function sorted(set: ReadonlySet<number>): number[] {
  return [...set].sort((a, b) => a - b);
}

/** [1,2,3,5] -> "1–3, 5" (runs of consecutive numbers). */
function runs(values: number[], name: (v: number) => string): string {
  return runsInOrder(values, undefined, name);
}

/** Collapses runs of consecutive values; `order`, when given, defines what "consecutive" means. */
function runsInOrder(values: number[], order: number[] | undefined, name: (v: number) => string): string {
  const pos = (v: number) => (order ? order.indexOf(v) : v);
  const parts: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && pos(values[j + 1]) === pos(values[j]) + 1) j++;
    if (j === i) parts.push(name(values[i]));
    else if (j === i + 1) parts.push(name(values[i]), name(values[j]));
    else parts.push(`${name(values[i])}–${name(values[j])}`);
    i = j + 1;
  }
  return parts.join(", ");
}
