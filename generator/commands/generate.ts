// `nixway generate`: load and validate, emit every generated file (pure), then write them (or,
// with --check, compare them) through generator/write.ts, the only code that touches the disk.
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { InputError, type Diagnostic } from "../diagnostics.ts";
import { emitAll } from "../emit/index.ts";
import { diagnosticAt } from "../load.ts";
import { findRoot, loadRepo, SERVICE_FILE, SERVICES_DIR, serviceDirs, type LoadedRepo } from "../repo.ts";
import { checkGenerated, isTempFileName, MANIFEST_PATH, readManifest, writeGenerated, type Conflict } from "../write.ts";

export const command: Command = {
  name: "generate",
  summary: "write each service's image Nix, scripts and Pulumi program from its service.yaml",
  help: `Usage: nixway generate [--root DIR] [--check] [--force]

Validates nixway.yaml and services/*/service.yaml, then writes every generated file:
services/<svc>/image.nix (the OCI image, read by flake.nix), services/<svc>/scripts/push.sh and
promote.sh, the Pulumi program under services/<svc>/infra/ and docs/service-yaml.md.
.nixway/manifest.json records what was generated: files of a removed service are deleted, and a
generated file edited by hand is reported and left alone. Writes are atomic.

Options:
  --root DIR   repository root (default: nearest ancestor with nixway.yaml or services/)
  --check      write nothing; print a unified diff of every out-of-date generated file (content
               or mode, missing or stale) and exit 1 if there is any
  --force      overwrite (or delete) generated files even when they were edited by hand

Exit status: 0 done (or up to date with --check), 1 invalid input, out of date (--check) or a
hand-edited file left alone, 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const { values } = parseCommandArgs(
      "generate",
      argv,
      { root: { type: "string" }, check: { type: "boolean" }, force: { type: "boolean" } },
      { min: 0, max: 0, names: "" },
    );
    const root = findRoot(values.root);
    // A removed service: its service.yaml (and app) are gone and only generated files are left.
    // Not a service any more; its files are stale and deleted (or reported, with --check).
    const repo = await loadRepo(root, [], { skipDirs: removedServiceDirs(root) });
    const collisions = flakeNameCollisions(repo);
    if (collisions.length) throw new InputError(collisions);
    const files = emitAll(repo);

    if (values.check) {
      const { drift, diff } = checkGenerated(root, files);
      if (drift.length === 0) {
        io.stdout.write(`generated files up to date (${files.filter((f) => !f.createOnly).length} files)\n`);
        return 0;
      }
      io.stdout.write(diff);
      for (const d of drift) {
        const what =
          d.kind === "missing" ? "missing" : d.kind === "stale" ? "no longer generated (stale)" : d.kind === "mode" ? `mode ${d.found}, expected ${d.expected}` : "differs from its generated content";
        io.stderr.write(`${d.path}: error: ${what}\n`);
      }
      io.stderr.write(`${drift.length} generated file${drift.length === 1 ? "" : "s"} out of date; run: npx nixway generate\n`);
      return 1;
    }

    const result = await writeGenerated(root, files, { force: values.force === true });
    for (const p of result.written) io.stdout.write(`wrote ${p}\n`);
    for (const p of result.modeFixed) io.stdout.write(`fixed mode of ${p}\n`);
    for (const p of result.deleted) io.stdout.write(`deleted ${p}\n`);
    for (const p of result.created) io.stdout.write(`created ${p}\n`);
    if (result.manifestWritten) io.stdout.write(`updated ${MANIFEST_PATH}\n`);
    const changed = result.written.length + result.modeFixed.length + result.deleted.length + result.created.length;
    io.stdout.write(
      `${changed ? `${changed} file${changed === 1 ? "" : "s"} changed` : "up to date"}: ${result.written.length + result.unchanged.length + result.modeFixed.length} generated, ${result.deleted.length} deleted${result.kept.length ? `, ${result.kept.length} user-owned kept` : ""}\n`,
    );
    for (const c of result.conflicts) io.stderr.write(`${c.path}: error: ${conflictMessage(c)}\n`);
    if (result.conflicts.length) {
      const n = result.conflicts.length;
      io.stderr.write(`${n} file${n === 1 ? "" : "s"} left alone; rerun with --force to overwrite ${n === 1 ? "it" : "them"}\n`);
      return 1;
    }
    return 0;
  },
};

function conflictMessage(c: Conflict): string {
  switch (c.kind) {
    case "edited":
      return "edited since nixway generated it; not overwritten. Move the change into the service.yaml (or delete the file), or rerun with --force";
    case "stale-edited":
      return "generated for a service that no longer exists, and edited since; not deleted. Delete it yourself, or rerun with --force";
    case "foreign":
      return "exists but was not written by nixway; not overwritten. Move it away, or rerun with --force";
  }
}

/**
 * Service names the flake cannot tell apart: packages.x86_64-linux holds `nixway`, `<svc>` and
 * `<svc>-image`, so a service named `nixway`, or `foo-image` next to `foo`, would shadow another output.
 */
export function flakeNameCollisions(repo: LoadedRepo): Diagnostic[] {
  const owner = new Map<string, string>([["nixway", "the nixway CLI package"]]);
  for (const s of repo.services) owner.set(`${s.name}-image`, `the image of service '${s.name}'`);
  const out: Diagnostic[] = [];
  for (const s of repo.services) {
    const taken = owner.get(s.name);
    if (!taken) continue;
    const loaded = repo.sources.get(s.name);
    const message = `service name '${s.name}' collides with the flake output packages.x86_64-linux.${s.name} (${taken}); choose another name`;
    out.push(loaded ? diagnosticAt(loaded, ["name"], message) : { file: s.file, line: 1, col: 1, severity: "error", message });
  }
  return out;
}

/**
 * Directories under services/ without a service.yaml that hold only files nixway generated
 * (listed in the manifest). Anything else there (app code, a user-owned Pulumi.<stack>.yaml)
 * makes the directory a broken service instead, which validation reports.
 */
export function removedServiceDirs(root: string): Set<string> {
  const generated = new Set(readManifest(root).keys());
  const out = new Set<string>();
  for (const dir of serviceDirs(root)) {
    const rel = `${SERVICES_DIR}/${dir}`;
    if (existsSync(path.join(root, rel, SERVICE_FILE))) continue;
    const files = filesUnder(root, rel);
    if (files.length > 0 && files.every((f) => generated.has(f))) out.add(dir);
  }
  return out;
}

function filesUnder(root: string, rel: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...filesUnder(root, child));
    else if (!isTempFileName(e.name)) out.push(child);
  }
  return out;
}
