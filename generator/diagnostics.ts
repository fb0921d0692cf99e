// Compiler-style diagnostics. Every problem with user input becomes a Diagnostic with
// a repo-relative file and a 1-based line:col; the CLI prints them all at once and exits 1.
// Anything that is the user's invocation (flags, unknown service) is a UsageError: exit 2.

export interface Diagnostic {
  /** Path relative to the repository root (or as given), always with forward slashes. */
  file: string;
  line: number;
  col: number;
  severity: "error" | "warning";
  message: string;
}

/**
 * Characters a message may quote from the input but must not print raw: control characters
 * (newlines would split a diagnostic, ESC could drive the terminal), invisible format characters
 * (a zero-width space makes 'keep\u200bWarm' look like 'keepWarm'), and line separators.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}]/gu;

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`);
}

export function formatDiagnostic(d: Diagnostic): string {
  return printable(`${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`);
}

export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort(
    (a, b) =>
      a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || a.message.localeCompare(b.message),
  );
}

/** Bad input (a service.yaml, nixway.yaml, an archive...): exit status 1. */
export class InputError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[] | string) {
    const ds = typeof diagnostics === "string" ? [] : sortDiagnostics(diagnostics);
    super(typeof diagnostics === "string" ? diagnostics : ds.map(formatDiagnostic).join("\n"));
    this.name = "InputError";
    this.diagnostics = ds;
  }
}

/** The command line itself is wrong: exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure of the outside world (registry down, API error) already explained in `message`: exit 1. */
export class OperationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OperationError";
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a small edit distance (case-insensitive), if any. */
export function didYouMean(found: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = editDistance(found.toLowerCase(), c.toLowerCase());
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  const limit = Math.max(2, Math.floor(found.length / 3));
  return best !== undefined && bestScore <= limit ? best : undefined;
}
