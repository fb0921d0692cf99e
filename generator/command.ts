// The shape of one CLI command; each lives in generator/commands/<name>.ts.

/** Where a command prints: process.stdout/stderr, or buffers when a test runs the CLI in-process. */
export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export const PROCESS_IO: CommandIo = { stdout: process.stdout, stderr: process.stderr };

export interface Command {
  name: string;
  /** One line for `nixway --help`. */
  summary: string;
  /** The full text of `nixway <name> --help`. */
  help: string;
  /** Returns the exit status: 0 ok, 1 bad input or failed operation. Throws UsageError for 2. */
  run(argv: string[], io?: CommandIo): Promise<number>;
}
