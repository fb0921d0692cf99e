// Child processes: always an argv array, never a shell string. Output is captured as text.
import { spawn, type SpawnOptions } from "node:child_process";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** The complete environment of the child (not merged): callers decide exactly what it sees. */
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, then closed (the way to hand a secret over without argv). */
  input?: string | Buffer;
  timeoutMs?: number;
  /** Forwarded so a parent's Ctrl-C reaches the child. */
  signal?: AbortSignal;
  /** Inherit stdio instead of capturing (for long interactive-ish children like pulumi up). */
  inherit?: boolean;
  /** An open file descriptor the child's stdout goes to instead of being captured (binary output, e.g. an image stream). */
  stdoutFd?: number;
  /** Called with captured output as it arrives (still captured in the result): live progress of long children like pulumi up. */
  onOutput?: (text: string, stream: "stdout" | "stderr") => void;
}

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: opts.inherit ? ["pipe", "inherit", "inherit"] : ["pipe", opts.stdoutFd ?? "pipe", "pipe"],
      signal: opts.signal,
      timeout: opts.timeoutMs,
    };
    const child = spawn(cmd, args, spawnOpts);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      opts.onOutput?.(d, "stdout");
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      opts.onOutput?.(d, "stderr");
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") reject(new Error(`${cmd}: command not found (is it installed and on PATH?)`));
      else reject(err);
    });
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin?.on("error", () => {
      /* the child may exit before reading its stdin */
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}
