import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCron } from "../generator/cron.ts";
import type { KeepWarm, StackSettings } from "../generator/model.ts";
import { postureOf } from "../generator/posture.ts";

const settings = (minScale: number): StackSettings => ({ minScale, maxScale: 5, memoryLimit: 256, cpuLimit: 140, environmentVariables: {} });
const warm = (schedule: string, timezone = "Europe/Paris"): KeepWarm => ({ schedule, timezone, path: "/health" });

/**
 * An independent count: walks every minute of every day in 2024-2027 (a leap year included) with
 * the usual cron rule (day-of-month and day-of-week ORed when both are restricted) and returns
 * the wake-ups of each day that has any, and the weekdays those days fall on.
 */
function simulate(expr: string): { perDay: Set<number>; weekdays: Set<number>; activeDays: number } {
  const r = parseCron(expr);
  assert.ok(r.ok, expr);
  const s = r.schedule;
  const perDay = new Set<number>();
  const weekdays = new Set<number>();
  let activeDays = 0;
  for (let t = Date.UTC(2024, 0, 1); t < Date.UTC(2028, 0, 1); t += 86_400_000) {
    const d = new Date(t);
    const dom = s.daysOfMonth.has(d.getUTCDate());
    const dow = s.daysOfWeek.has(d.getUTCDay());
    const dayMatches = s.domRestricted && s.dowRestricted ? dom || dow : dom && dow;
    if (!dayMatches || !s.months.has(d.getUTCMonth() + 1)) continue;
    let fires = 0;
    for (let minute = 0; minute < 1440; minute++) if (s.hours.has(Math.floor(minute / 60)) && s.minutes.has(minute % 60)) fires++;
    if (!fires) continue;
    activeDays++;
    perDay.add(fires);
    weekdays.add(d.getUTCDay());
  }
  return { perDay, weekdays, activeDays };
}

describe("postureOf", () => {
  it("minScale >= 1 is always warm, with or without a keep-warm schedule", () => {
    const p = postureOf(settings(2));
    assert.equal(p.kind, "always-warm");
    assert.equal(p.wakeUpsPerDay, undefined);
    assert.match(p.summary, /^always warm: minScale 2 keeps 2 instances running/);
    const q = postureOf(settings(1), warm("*/10 8-18 * * 1-5"));
    assert.equal(q.kind, "always-warm");
    assert.match(q.summary, /keepWarm schedule is redundant/);
  });

  it("minScale 0 without keepWarm scales to zero", () => {
    const p = postureOf(settings(0));
    assert.deepEqual(p, { kind: "scale-to-zero", summary: "scale to zero: minScale 0, cold starts expected after idle periods" });
  });

  it("business hours every 10 minutes: 66 wake-ups a day, Monday to Friday", () => {
    const p = postureOf(settings(0), warm("*/10 8-18 * * 1-5"));
    assert.deepEqual(p, {
      kind: "kept-warm",
      wakeUpsPerDay: 66,
      activeWeekdays: [1, 2, 3, 4, 5],
      summary: "kept warm on a schedule: 66 wake-ups a day, Mon–Fri 08:00–18:50 (Europe/Paris), GET /health; cold starts expected outside those hours",
    });
  });

  const cases: { expr: string; perDay: number; weekdays?: number[]; days: RegExp }[] = [
    { expr: "0 9 * * *", perDay: 1, weekdays: [0, 1, 2, 3, 4, 5, 6], days: /1 wake-up a day, every day at 09:00 \(UTC\)/ },
    { expr: "*/15 * * * *", perDay: 96, weekdays: [0, 1, 2, 3, 4, 5, 6], days: /every day 00:00–23:45/ },
    { expr: "0,30 9-12,14-17 * * MON-FRI", perDay: 16, weekdays: [1, 2, 3, 4, 5], days: /16 wake-ups a day, Mon–Fri 09:00–17:30/ },
    { expr: "5-59/20 7 * * 6,7", perDay: 3, weekdays: [0, 6], days: /3 wake-ups a day, Sat, Sun 07:05–07:45/ },
    { expr: "*/5 8-17 * * 1,3,5", perDay: 120, weekdays: [1, 3, 5], days: /Mon, Wed, Fri 08:00–17:55/ },
    { expr: "0 9 1,15 * *", perDay: 1, days: /on days 1, 15 of the month at 09:00/ },
    { expr: "0 8 1 * 1", perDay: 1, days: /on day 1 of the month and on Mon at 08:00/ },
    { expr: "*/30 8-9 * 6-8 1-5", perDay: 4, days: /Mon–Fri in Jun–Aug 08:00–09:30/ },
    { expr: "0 12 29 2 *", perDay: 1, days: /on day 29 of the month in Feb at 12:00/ },
    { expr: "0 6-22/4 * * *", perDay: 5, weekdays: [0, 1, 2, 3, 4, 5, 6], days: /every day 06:00–22:00/ },
  ];
  for (const c of cases) {
    it(`"${c.expr}": ${c.perDay} a day, exactly as a minute-by-minute count over four years`, () => {
      const p = postureOf(settings(0), warm(c.expr, "UTC"));
      assert.equal(p.kind, "kept-warm");
      assert.equal(p.wakeUpsPerDay, c.perDay);
      assert.deepEqual(p.activeWeekdays, c.weekdays);
      assert.match(p.summary, c.days);
      const sim = simulate(c.expr);
      assert.deepEqual([...sim.perDay], [c.perDay], "every active day has the same count");
      // A weekly pattern names exactly the weekdays it runs on.
      if (p.activeWeekdays) assert.deepEqual([...sim.weekdays].sort(), p.activeWeekdays);
    });
  }

  it("a schedule that can never fire (February 30) leaves the service scaling to zero", () => {
    assert.equal(simulate("0 9 30 2 *").activeDays, 0);
    const p = postureOf(settings(0), warm("0 9 30 2 *"));
    assert.equal(p.kind, "scale-to-zero");
    assert.equal(p.wakeUpsPerDay, undefined);
    assert.match(p.summary, /never fires/);
  });

  it("a day-of-month that only some selected months have still fires in those", () => {
    // The 31st exists in January, not in April.
    const p = postureOf(settings(0), warm("0 9 31 1,4 *", "UTC"));
    assert.equal(p.kind, "kept-warm");
    assert.ok(simulate("0 9 31 1,4 *").activeDays > 0);
    assert.match(p.summary, /on day 31 of the month in Jan, Apr/);
  });

  it("reads each stack's own minScale", () => {
    const kw = warm("*/10 8-18 * * 1-5");
    assert.equal(postureOf(settings(0), kw).kind, "kept-warm");
    assert.equal(postureOf(settings(1), kw).kind, "always-warm");
  });
});
