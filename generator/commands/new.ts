import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { UsageError } from "../diagnostics.ts";
import { findRoot, SERVICES_DIR } from "../repo.ts";

const TEMPLATE_DIR = fileURLToPath(new URL("../../templates/service/", import.meta.url));
const NAME_RULE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const command: Command = {
  name: "new",
  summary: "scaffold services/SERVICE with a service.yaml and a Bun app",
  help: `Usage: nixway new SERVICE [--root DIR]

Creates services/SERVICE/service.yaml (with a yaml-language-server $schema line for editor
completion) and services/SERVICE/app/index.ts, a Bun app that listens on $PORT and answers
/health. Refuses to touch an existing directory. Then run: nixway validate && nixway generate

Options:
  --root DIR   repository root (default: nearest ancestor with nixway.yaml or services/)
`,
  async run(argv, io = PROCESS_IO) {
    const { values, positionals } = parseCommandArgs("new", argv, { root: { type: "string" } }, { min: 1, max: 1, names: "SERVICE" });
    const name = positionals[0];
    if (name.length < 2 || name.length > 34 || !NAME_RULE.test(name)) {
      throw new UsageError(
        `new: '${name}' is not a valid service name: use 2-34 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`,
      );
    }
    const root = findRoot(values.root);
    const target = path.join(root, SERVICES_DIR, name);
    if (existsSync(target)) throw new UsageError(`new: ${SERVICES_DIR}/${name} already exists; nothing was written`);
    await mkdir(path.join(root, SERVICES_DIR), { recursive: true });
    // Build the whole service in a sibling temp dir, then rename: never a half-made service.
    const staging = await mkdtemp(path.join(root, SERVICES_DIR, `.new-${name}-`));
    try {
      await cp(TEMPLATE_DIR, staging, { recursive: true });
      await substitute(staging, name);
      await rename(staging, target);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    io.stdout.write(
      `created ${SERVICES_DIR}/${name}/service.yaml and ${SERVICES_DIR}/${name}/app/index.ts\n` +
        `next: edit them, then run 'npx nixway validate ${name}' and 'npx nixway generate'\n`,
    );
    return 0;
  },
};

async function substitute(dir: string, name: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const text = await readFile(file, "utf8");
    await writeFile(file, text.replaceAll("__NAME__", name));
  }
}
