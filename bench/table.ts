// `npx tsx bench/table.ts [RESULTS]`: the README's table of benchmark figures, in Markdown, from
// bench/results.json (or RESULTS), so the table is copied from a run rather than typed.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Results } from "./report.ts";
import { REPO_ROOT } from "./synthetic.ts";

const file = process.argv[2] ?? path.join(REPO_ROOT, "bench", "results.json");
const results = JSON.parse(readFileSync(file, "utf8")) as Results;
const f = results.figures;

function has(...names: string[]): boolean {
  return names.every((n) => Object.hasOwn(f, n));
}
const s = (n: string) => `${f[n]} s`;
const x = (n: string) => `${f[n]}×`;
const pct = (n: string) => `${Number((f[n] * 100).toPrecision(2))} %`;
/** The target of `figure` and whether it was met; `unit` shows the limit the way the figure's result reads. */
function verdict(figure: string, unit: "s" | "x" | "%" = "x"): string {
  const t = results.targets.find((t) => t.figure === figure);
  if (!t || t.met === null) return "";
  const limit = unit === "s" ? `${t.limit} s` : unit === "%" ? `${t.limit * 100} %` : `${t.limit}×`;
  return `${t.op === "<" ? "<" : "≤"} ${limit}: ${t.met ? "met" : "**missed**"}`;
}

const rows: [string, string, string][] = [];
const g = Object.keys(f)
  .map((k) => /^generate\.(\d+)\.seconds$/.exec(k)?.[1])
  .filter((n): n is string => n !== undefined)
  .map(Number)
  .sort((a, b) => a - b);
if (g.length >= 2) {
  const [prev, last] = g.slice(-2);
  rows.push([`\`generate\`, ${g.join(" / ")} services (in-process, every file written)`, g.map((n) => s(`generate.${n}.seconds`)).join(" / "), verdict(`generate.${last}.seconds`, "s")]);
  if (has(`generate.cli.${last}.seconds`)) rows.push([`\`generate\`, ${last} services, as a CLI process`, s(`generate.cli.${last}.seconds`), verdict(`generate.cli.${last}.seconds`, "s")]);
  if (has(`generate.noop.${last}.seconds`)) rows.push([`\`generate\`, ${last} services, nothing to write`, s(`generate.noop.${last}.seconds`), ""]);
  rows.push([`\`generate\` marginal cost per service; time(${last}) / time(${prev})`, `${f["generate.marginal_ms_per_service"]} ms; ${x(`generate.ratio_${last}_to_${prev}`)}`, verdict(`generate.ratio_${last}_to_${prev}`)]);
  if (has(`validate.${last}.seconds`, `validate.cli.${last}.seconds`)) {
    rows.push([`\`validate\`, ${last} services (in-process; CLI process)`, `${s(`validate.${last}.seconds`)}; ${s(`validate.cli.${last}.seconds`)}`, ""]);
  }
}
const sizes = Object.keys(f)
  .map((k) => /^push\.noop\.(\d+mb)\.seconds$/.exec(k)?.[1])
  .filter((l): l is string => l !== undefined);
for (const l of sizes) {
  const L = l.toUpperCase().replace("MB", " MB");
  rows.push([
    `No-op push / plain \`skopeo copy docker-archive:\`, ${L}: skopeo with a warm blob-info cache`,
    `${s(`push.noop.${l}.seconds`)} / ${s(`push.skopeo_copy.${l}.seconds`)} = ${x(`push.noop_to_skopeo_copy.${l}.ratio`)}`,
    verdict(`push.noop_to_skopeo_copy.${l}.ratio`),
  ]);
  rows.push([
    `… skopeo on a fresh runner (re-uploads ${f[`push.skopeo_copy_cold_cache.${l}.uploaded_bytes`]} bytes; nixway 0)`,
    `${s(`push.noop.${l}.seconds`)} / ${s(`push.skopeo_copy_cold_cache.${l}.seconds`)} = ${x(`push.noop_to_skopeo_copy_cold_cache.${l}.ratio`)} (in-process: ${x(`push.noop_in_process_to_skopeo_copy_cold_cache.${l}.ratio`)})`,
    verdict(`push.noop_to_skopeo_copy_cold_cache.${l}.ratio`),
  ]);
  rows.push([
    `\`promote\` / \`skopeo copy docker://…:testing docker://…:production\`, ${L}`,
    `${s(`promote.${l}.seconds`)} / ${s(`promote.skopeo_retag.${l}.seconds`)} = ${x(`promote.to_skopeo_retag.${l}.ratio`)} (in-process: ${x(`promote.in_process_to_skopeo_retag.${l}.ratio`)})`,
    verdict(`promote.to_skopeo_retag.${l}.ratio`),
  ]);
  rows.push([`App-only change, bytes uploaded / image bytes, ${L}`, `${f[`app_only.${l}.uploaded_bytes`]} / ${f[`app_only.${l}.image_bytes`]} = ${pct(`app_only.${l}.uploaded_fraction`)}`, verdict(`app_only.${l}.uploaded_fraction`, "%")]);
}
if (sizes.length >= 2) {
  const name = `promote.${sizes[sizes.length - 1]}_to_${sizes[0]}.ratio`;
  rows.push([`\`promote\` time, ${sizes[sizes.length - 1].replace("mb", " MB")} / ${sizes[0].replace("mb", " MB")} image`, x(name), verdict(name)]);
}
const n = Object.keys(f)
  .map((k) => /^nix_eval\.(\d+)\.seconds$/.exec(k)?.[1])
  .filter((v): v is string => v !== undefined)
  .map(Number)
  .sort((a, b) => a - b);
if (n.length >= 2) {
  const [small, large] = [n[0], n[n.length - 1]];
  rows.push([
    `\`nix eval\` of the flake outputs (test double), ${small} / ${large} services`,
    `${s(`nix_eval.${small}.seconds`)} / ${s(`nix_eval.${large}.seconds`)}; ratio ${x(`nix_eval.ratio_${large}_to_${small}`)}`,
    "",
  ]);
}

const out = [
  `Latest figures (${results.date.slice(0, 10)}, ${results.machine.cpus} cores, load ${results.machine.loadAverage1m.start}–${results.machine.loadAverage1m.end}; ${results.mode} run):`,
  "",
  "| Figure | Result | Target |",
  "| --- | --- | --- |",
  ...rows.map((r) => `| ${r.join(" | ")} |`),
  "",
  "Reproduce: `npm run bench` (needs skopeo, docker-registry, openssl, apache2-utils, nix-bin, git); every figure is in `bench/results.json`.",
];
process.stdout.write(out.join("\n") + "\n");
