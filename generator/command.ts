// The shape of one CLI command; each lives in generator/commands/<name>.ts.

export interface Command {
  name: string;
  /** One line for `nixway --help`. */
  summary: string;
  /** The full text of `nixway <name> --help`. */
  help: string;
  /** Returns the exit status: 0 ok, 1 bad input or failed operation. Throws UsageError for 2. */
  run(argv: string[]): Promise<number>;
}
