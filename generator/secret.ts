// The Scaleway API secret key: the registry password (user `nologin`) and the API token.
// It comes from an environment variable or from the argv command nixway.yaml names
// (`apiSecret: { command: [pass, sanmarcsoft/scaleway/api-secret] }`), and is carried in a
// `Secret` whose string, JSON and inspect forms are redacted, so an accidental log line,
// template string or JSON.stringify prints "[redacted]" instead of the key.
import { inspect } from "node:util";
import { OperationError } from "./diagnostics.ts";
import { DEFAULTS, type RepoConfig } from "./model.ts";
import { run } from "./proc.ts";

const REDACTED = "[redacted]";

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    if (value === "") throw new Error("Secret: empty value");
    this.#value = value;
  }

  /** The actual key. Call it only where the value goes to its one destination (the auth file, an API header). */
  reveal(): string {
    return this.#value;
  }

  /**
   * `text` with the secret, and the base64 `nologin:<secret>` an auth header or auth file would carry,
   * replaced by "[redacted]": applied to every child-process message before it reaches the user.
   */
  redact(text: string): string {
    let out = text;
    for (const form of [this.#value, Buffer.from(`nologin:${this.#value}`).toString("base64")]) {
      if (form.length >= 4) out = out.split(form).join(REDACTED);
    }
    return out;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

/** Names of the environment variables that may carry the secret: removed from every child's environment. */
export function secretEnvNames(config: Pick<RepoConfig, "apiSecret"> | undefined): string[] {
  const names = new Set<string>([DEFAULTS.apiSecretEnv]);
  if (config && "env" in config.apiSecret) names.add(config.apiSecret.env);
  return [...names].sort();
}

/**
 * The environment children get: `base` minus every variable that may carry the secret (and
 * REGISTRY_AUTH_FILE, since nixway always hands skopeo its own auth file).
 */
export function childEnv(config: Pick<RepoConfig, "apiSecret"> | undefined, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of [...secretEnvNames(config), "REGISTRY_AUTH_FILE"]) delete env[name];
  return env;
}

export interface ResolveSecretOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the command runs (the repository root). */
  cwd?: string;
  /** How long the command may take (pass may wait for a GPG pinentry). Default 120 s. */
  timeoutMs?: number;
}

/**
 * Reads the API secret the way nixway.yaml says:
 * - `apiSecret: { env: NAME }` (the default, NAME = SCW_SECRET_KEY): that variable;
 * - `apiSecret: { command: [...] }`: SCW_SECRET_KEY when set (CI hands the key over that way), else the
 *   first line the command prints on stdout. The command runs without a shell; its stdout is never shown.
 */
export async function resolveApiSecret(config: Pick<RepoConfig, "apiSecret" | "file">, opts: ResolveSecretOptions = {}): Promise<Secret> {
  const env = opts.env ?? process.env;
  const where = config.file ?? "nixway.yaml";
  const source = config.apiSecret;
  if ("env" in source) {
    const value = env[source.env];
    if (value === undefined || value.trim() === "") {
      throw new OperationError(
        `no Scaleway API secret: ${source.env} is not set. Export it (the secret key is also the registry password), ` +
          `or set apiSecret.command in ${where} to a command that prints it, e.g. [pass, sanmarcsoft/scaleway/api-secret]`,
      );
    }
    return new Secret(firstLine(value));
  }
  const fromEnv = env[DEFAULTS.apiSecretEnv];
  if (fromEnv !== undefined && fromEnv.trim() !== "") return new Secret(firstLine(fromEnv));

  const argv = source.command;
  const shown = argv.join(" ");
  let result;
  try {
    result = await run(argv, { cwd: opts.cwd, env: childEnv(config, env), timeoutMs: opts.timeoutMs ?? 120_000 });
  } catch (err) {
    throw new OperationError(`apiSecret.command in ${where} could not run (${shown}): ${err instanceof Error ? err.message : String(err)}`);
  }
  // The command's stdout is the secret (or part of it): never echo it, only its stderr.
  const secret = firstLine(result.stdout);
  if (result.code !== 0 || secret === "") {
    const why = result.signal
      ? `was stopped by ${result.signal}`
      : result.code !== 0
        ? `exited with status ${result.code}`
        : "printed nothing on stdout";
    const stderr = secret ? new Secret(secret).redact(result.stderr.trim()) : result.stderr.trim();
    throw new OperationError(
      `apiSecret.command in ${where} (${shown}) ${why}${stderr ? `: ${stderr.split("\n").slice(0, 5).join("\n")}` : ""}; ` +
        `fix the command or export ${DEFAULTS.apiSecretEnv}`,
    );
  }
  return new Secret(secret);
}

/** `pass` prints the password on the first line and may add more lines (user names, URLs). */
function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0].trim();
}
