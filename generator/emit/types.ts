// What every emitter returns: pure data, written (or checked) by generator/write.ts only.

export interface GeneratedFile {
  /** Path relative to the repository root, forward slashes. */
  path: string;
  /** Full text: LF line endings, a final newline, no timestamps or absolute paths. */
  content: string;
  /** 0o644 for data and source, 0o755 for scripts. */
  mode: 0o644 | 0o755;
  /**
   * Written only when absent and never tracked, checked or deleted afterwards: files users own
   * once created (Pulumi.<stack>.yaml holds their encrypted secrets).
   */
  createOnly?: boolean;
}

/** The command that regenerates every generated file; named in each header. */
export const REGENERATE_COMMAND = "npx nixway generate";
