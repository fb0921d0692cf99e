// `nixway` command dispatcher. Exit status: 0 ok, 1 bad input / failed operation, 2 usage.
import { formatDiagnostic, InputError, OperationError, UsageError, didYouMean } from "./diagnostics.ts";
import { PROCESS_IO, type Command, type CommandIo } from "./command.ts";

/** Loaded lazily so `nixway validate` does not pay for Pulumi or the Scaleway SDK. */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  validate: () => import("./commands/validate.ts"),
  new: () => import("./commands/new.ts"),
  generate: () => import("./commands/generate.ts"),
  plan: () => import("./commands/plan.ts"),
  smoke: () => import("./commands/smoke.ts"),
  status: () => import("./commands/status.ts"),
  diagnose: () => import("./commands/diagnose.ts"),
  push: () => import("./commands/push.ts"),
  tags: () => import("./commands/tags.ts"),
  inspect: () => import("./commands/inspect.ts"),
  promote: () => import("./commands/promote.ts"),
  deploy: () => import("./commands/deploy.ts"),
};

const ORDER = ["new", "validate", "generate", "plan", "push", "tags", "inspect", "promote", "deploy", "status", "diagnose", "smoke"];

async function topHelp(): Promise<string> {
  const lines = ["Usage: nixway <command> [options]", "", "Declarative deploys of Bun services to Scaleway Serverless Containers.", "", "Commands:"];
  const names = Object.keys(COMMANDS).sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b));
  for (const name of names) {
    const { command } = await COMMANDS[name]();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  }
  lines.push("", "Run 'nixway <command> --help' for a command's options.", "Exit status: 0 ok, 1 invalid input or failed operation, 2 usage error.");
  return lines.join("\n") + "\n";
}

/** Runs one command line; `io` lets tests capture the output without spawning a process. */
export async function main(argv: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      // No command is a usage error: the help goes to stderr so scripts see nothing on stdout.
      io.stderr.write(await topHelp());
      return 2;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      io.stdout.write(await topHelp());
      return 0;
    }
    if (name === "--version") {
      io.stdout.write("nixway 0.1.0\n");
      return 0;
    }
    const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!load) {
      const guess = didYouMean(name, Object.keys(COMMANDS));
      throw new UsageError(`unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ""}`);
    }
    const { command } = await load();
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout.write(command.help.endsWith("\n") ? command.help : command.help + "\n");
      return 0;
    }
    return await command.run(rest, io);
  } catch (err) {
    return report(err, name, io);
  }
}

export function report(err: unknown, name: string | undefined, io: CommandIo = PROCESS_IO): number {
  if (err instanceof InputError) {
    if (err.diagnostics.length) {
      for (const d of err.diagnostics) io.stderr.write(formatDiagnostic(d) + "\n");
      const n = err.diagnostics.filter((d) => d.severity === "error").length;
      io.stderr.write(`${n} error${n === 1 ? "" : "s"}\n`);
    } else {
      io.stderr.write(`nixway: error: ${err.message}\n`);
    }
    return 1;
  }
  if (err instanceof UsageError) {
    io.stderr.write(`nixway: error: ${err.message}\n`);
    io.stderr.write(name && Object.hasOwn(COMMANDS, name) ? `Run 'nixway ${name} --help' for usage.\n` : "Run 'nixway --help' for usage.\n");
    return 2;
  }
  if (err instanceof OperationError) {
    io.stderr.write(`nixway: error: ${err.message}\n`);
    return 1;
  }
  // A bug in nixway, not bad input: say so, and keep the trace for those who ask.
  const msg = err instanceof Error ? err.message : String(err);
  io.stderr.write(`nixway: internal error: ${msg}\n`);
  if (process.env.NIXWAY_DEBUG && err instanceof Error && err.stack) io.stderr.write(err.stack + "\n");
  else io.stderr.write("This is a bug in nixway; set NIXWAY_DEBUG=1 to see a stack trace.\n");
  return 70;
}
