import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { findRoot, loadRepo } from "../repo.ts";

export const command: Command = {
  name: "validate",
  summary: "check nixway.yaml and every services/*/service.yaml; writes nothing",
  help: `Usage: nixway validate [--root DIR] [SERVICE...]

Checks nixway.yaml and services/*/service.yaml (or only the named services) against
schemas/*.schema.json and the cross-field rules, and prints every error as
FILE:LINE:COL: error: MESSAGE. Writes nothing.

Options:
  --root DIR   repository root (default: nearest ancestor with nixway.yaml or services/)

Exit status: 0 valid, 1 invalid, 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const { values, positionals } = parseCommandArgs("validate", argv, { root: { type: "string" } }, { min: 0, max: Infinity, names: "" });
    const root = findRoot(values.root);
    const repo = await loadRepo(root, positionals);
    const n = repo.services.length;
    io.stdout.write(`${n} service${n === 1 ? "" : "s"} valid${n ? `: ${repo.services.map((s) => s.name).join(", ")}` : ""}\n`);
    return 0;
  },
};
