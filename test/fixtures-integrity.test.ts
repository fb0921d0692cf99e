// The Scaleway API recordings are vendored from ../shared/fixtures/scaleway-api so a fresh clone
// can replay them. They are data we must not edit: this pins them byte for byte.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("./fixtures/scaleway-api/", import.meta.url));
const shared = fileURLToPath(new URL("../../shared/fixtures/scaleway-api/", import.meta.url));
const sums = readFileSync(`${dir}SHA256SUMS`, "utf8")
  .trim()
  .split("\n")
  .map((line) => line.split(/\s+/) as [string, string]);

test("vendored Scaleway recordings are byte-identical to the recorded originals", () => {
  assert.ok(sums.length >= 8, "SHA256SUMS lists the recordings");
  for (const [sum, name] of sums) {
    const actual = createHash("sha256").update(readFileSync(dir + name)).digest("hex");
    assert.equal(actual, sum, `${name} differs from its recorded checksum`);
    // Where the team's shared copy is at hand (developers' machines), it must match too.
    if (existsSync(shared + name)) {
      assert.equal(createHash("sha256").update(readFileSync(shared + name)).digest("hex"), sum, `shared ${name} changed`);
    }
  }
});
