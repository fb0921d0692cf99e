// Flag parsing shared by the commands: node:util parseArgs, strict, with usage errors (exit 2).
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./diagnostics.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed<O extends Options> {
  values: { [K in keyof O]?: O[K] extends { type: "boolean" } ? boolean : O[K] extends { multiple: true } ? string[] : string };
  positionals: string[];
  help: boolean;
}

export function parseCommandArgs<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): Parsed<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, "") : String(err);
    throw new UsageError(`${command}: ${msg}`);
  }
  const help = (parsed.values as Record<string, unknown>).help === true;
  if (!help) {
    const n = parsed.positionals.length;
    if (n < positionals.min) throw new UsageError(`${command}: missing ${positionals.names}`);
    if (n > positionals.max) throw new UsageError(`${command}: unexpected argument '${parsed.positionals[positionals.max]}'`);
  }
  return { values: parsed.values as Parsed<O>["values"], positionals: parsed.positionals, help };
}
