// The golden corpus: every repo under test/fixtures/invalid/<case>/ fails validation with exactly the
// diagnostics in its expected.txt (stderr); every repo under test/fixtures/valid/<case>/ passes with the
// stdout in its expected.txt. Golden files change only on purpose: UPDATE_GOLDEN=1 rewrites them.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { REPO_ROOT, runCli, spawnCli, type CliResult } from "./helpers/nixway-cli.ts";

const FIXTURES = path.join(REPO_ROOT, "test", "fixtures");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

function cases(kind: "invalid" | "valid"): string[] {
  const dir = path.join(FIXTURES, kind);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Compares `actual` with the case's expected.txt, or rewrites it under UPDATE_GOLDEN=1. */
async function golden(caseDir: string, actual: string): Promise<void> {
  const file = path.join(caseDir, "expected.txt");
  if (UPDATE) {
    await writeFile(file, actual);
    return;
  }
  assert.ok(existsSync(file), `${path.relative(REPO_ROOT, file)} is missing; create it deliberately with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, await readFile(file, "utf8"), `output differs from ${path.relative(REPO_ROOT, file)}`);
}

/** Output that must hold whatever the case: compiler-style lines, a count, no trace. */
function assertWellFormedFailure(r: CliResult): void {
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  const count = lines.pop();
  assert.match(count ?? "", /^\d+ errors?$/);
  assert.equal(Number(count?.split(" ")[0]), lines.length);
  for (const line of lines) assert.match(line, /^(nixway\.yaml|services\/[^/]+\/[^:]+):\d+:\d+: error: \S/);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
}

describe("invalid corpus", () => {
  const names = cases("invalid");

  test("holds at least 35 cases", () => {
    assert.ok(names.length >= 35, `only ${names.length} cases`);
  });

  for (const name of names) {
    test(name, async () => {
      const dir = path.join(FIXTURES, "invalid", name);
      const r = await runCli(["validate", "--root", dir]);
      assertWellFormedFailure(r);
      await golden(dir, r.stderr);
    });
  }

  test("the real binary prints the same as the in-process CLI", async () => {
    for (const name of ["many-errors-at-once", "secret-pasted-value", "not-utf8"]) {
      const dir = path.join(FIXTURES, "invalid", name);
      const r = await spawnCli(["validate", "--root", dir]);
      assertWellFormedFailure(r);
      assert.equal(r.stderr, await readFile(path.join(dir, "expected.txt"), "utf8"), name);
    }
  });

  test("pasted secrets never reach the output", async () => {
    const r = await runCli(["validate", "--root", path.join(FIXTURES, "invalid", "secret-pasted-value")]);
    for (const secret of ["sk_live_4eC39HqLyjWDarjtT1zdp7dc", "hunter2", "postgres://"]) assert.ok(!r.stderr.includes(secret), secret);
  });
});

describe("valid corpus", () => {
  for (const name of cases("valid")) {
    test(name, async () => {
      const dir = path.join(FIXTURES, "valid", name);
      const r = await runCli(["validate", "--root", dir]);
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      await golden(dir, r.stdout);
    });
  }
});
