// The benchmark harness in its smoke mode (BENCH_QUICK=1: 1 and 2 services, a 1 MB image, one
// repetition) against the real tools (nix, git, skopeo, docker-registry, openssl, htpasswd): it
// runs every section, prints one `name: value` line per figure, writes well-formed results, and
// cleans up after itself. Timings are never asserted; only what the run must be, whatever the
// machine's speed (e.g. an app-only change uploads less than the whole image).
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { run } from "../generator/proc.ts";
import { REPO_ROOT } from "./helpers/nixway-cli.ts";
import { requireTools } from "./helpers/registry.ts";
import { requireTool } from "./helpers/nix-flake.ts";

test("npm run bench in quick mode measures every figure and writes bench results", { timeout: 300_000 }, async () => {
  requireTools();
  await requireTool("nix");
  await requireTool("git");
  // The run's own TMPDIR: whatever it leaves behind there (registry storage, synthetic repos,
  // archives, flakes) shows up.
  const tmp = mkdtempSync(path.join(os.tmpdir(), "nixway-bench-test-"));
  const out = mkdtempSync(path.join(os.tmpdir(), "nixway-bench-out-"));
  try {
    const resultsFile = path.join(out, "results.json");
    const r = await run([process.execPath, "--import", "tsx", path.join(REPO_ROOT, "bench", "run.ts")], {
      cwd: REPO_ROOT,
      env: { ...process.env, BENCH_QUICK: "1", BENCH_RESULTS: resultsFile, TMPDIR: tmp },
      timeoutMs: 280_000,
    });
    assert.equal(r.code, 0, `bench exited ${r.code ?? r.signal}:\n${r.stderr}\n${r.stdout}`);

    const results = JSON.parse(readFileSync(resultsFile, "utf8"));
    assert.equal(results.mode, "quick");
    assert.equal(results.errors, undefined);
    assert.equal(typeof results.date, "string");
    for (const tool of ["node", "skopeo", "nix", "docker-registry"]) assert.equal(typeof results.tools[tool], "string", tool);
    for (const section of ["generate", "validate", "registry", "nix_eval"]) assert.equal(typeof results.method[section], "string", section);

    const figures: Record<string, number> = results.figures;
    for (const [name, value] of Object.entries(figures)) {
      assert.match(name, /^[a-z0-9_.]+$/, name);
      assert.ok(typeof value === "number" && Number.isFinite(value), `${name}: ${value}`);
      // A marginal cost is a difference of two timings: noise can make it negative in quick mode.
      if (!name.includes("marginal")) assert.ok(value >= 0, `${name}: ${value}`);
    }
    const expected = [
      "generate.1.seconds", "generate.2.seconds", "generate.marginal_ms_per_service", "generate.ratio_2_to_1",
      "generate.phase.2.load_seconds", "generate.phase.2.emit_seconds", "generate.phase.2.write_seconds", "generate.phase.2.files",
      "generate.noop.2.seconds", "generate.cli.2.seconds", "validate.2.seconds", "validate.cli.2.seconds",
      "push.noop.1mb.seconds", "push.skopeo_copy.1mb.seconds", "push.noop_to_skopeo_copy.1mb.ratio",
      "push.skopeo_copy_cold_cache.1mb.seconds", "push.skopeo_copy_cold_cache.1mb.uploaded_bytes",
      "push.noop_to_skopeo_copy_cold_cache.1mb.ratio", "push.noop_in_process.1mb.seconds",
      "app_only.1mb.uploaded_bytes", "app_only.1mb.image_bytes", "app_only.1mb.uploaded_fraction", "push.app_only.1mb.seconds",
      "promote.1mb.seconds", "promote.skopeo_retag.1mb.seconds", "promote.to_skopeo_retag.1mb.ratio", "promote.in_process.1mb.seconds",
      "nix_eval.1.seconds", "nix_eval.2.seconds", "nix_eval.ratio_2_to_1", "bench.total_seconds",
    ];
    for (const name of expected) assert.ok(Object.hasOwn(figures, name), `figure ${name} missing`);

    // Printed: one `name: value` line per figure, the same values as the file.
    const printed = new Map<string, number>();
    for (const line of r.stdout.split("\n")) {
      const m = /^([a-z0-9_.]+): (\S+)$/.exec(line);
      if (m) printed.set(m[1], Number(m[2]));
    }
    assert.deepEqual(Object.fromEntries(printed), figures);

    // Not timings: what the measured operations must do on any machine.
    assert.ok(figures["generate.phase.2.files"] > 0);
    assert.ok(figures["app_only.1mb.uploaded_bytes"] > 0, "the app-only change uploads its new layer");
    assert.ok(figures["app_only.1mb.uploaded_bytes"] < figures["app_only.1mb.image_bytes"], "but not the whole image");
    assert.equal(figures["app_only.1mb.uploaded_fraction"], Number((figures["app_only.1mb.uploaded_bytes"] / figures["app_only.1mb.image_bytes"]).toPrecision(4)));
    // skopeo without its blob-info cache uploads the layers again (that is what the cold figure measures).
    assert.ok(figures["push.skopeo_copy_cold_cache.1mb.uploaded_bytes"] >= 1024 * 1024);

    for (const t of results.targets) {
      assert.equal(typeof t.figure, "string");
      assert.ok(t.op === "<" || t.op === "<=");
      assert.equal(typeof t.limit, "number");
      if (t.value === null) assert.equal(t.met, null);
      else assert.equal(t.met, t.op === "<" ? t.value < t.limit : t.value <= t.limit);
    }

    // Cleaned up: nothing left in its TMPDIR but tsx's compile cache.
    assert.deepEqual(readdirSync(tmp).filter((n) => !n.startsWith("tsx-")), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});
