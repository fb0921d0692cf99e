// Stage 1: read YAML keeping source positions. Nothing here knows what a service is.
import { readFile } from "node:fs/promises";
import { Document, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Alias, type Node, type YAMLError } from "yaml";
import type { Diagnostic } from "./diagnostics.ts";

/** Files larger than this are refused before parsing: a service.yaml is a few hundred bytes. */
export const MAX_YAML_BYTES = 256 * 1024;
/** Aliases expanded at most this many times: a "billion laughs" file fails fast instead of eating memory. */
export const MAX_ALIAS_COUNT = 64;

export interface LoadedYaml {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** The plain JS value, or undefined when the YAML itself is broken. */
  value: unknown;
  diagnostics: Diagnostic[];
}

export type YamlPath = readonly (string | number)[];

function at(file: string, lineCounter: LineCounter, offset: number, message: string): Diagnostic {
  const { line, col } = lineCounter.linePos(offset);
  return { file, line, col, severity: "error", message };
}

/** Errors whose meaning does not depend on the line they are on. */
const YAML_MESSAGES: Partial<Record<string, string>> = {
  MULTIPLE_DOCS: "more than one YAML document ('---'): this file holds exactly one",
  NON_STRING_KEY: "a key must be a plain name, not a list, a mapping or a tagged value",
  RESOURCE_EXHAUSTION: "YAML nested too deeply to read",
};

/** Syntax errors after the first few mostly follow from them; more than this per file are summarized. */
export const MAX_YAML_ERRORS = 10;

/**
 * Line starts taken from the text itself: the parser's own line counting skips newlines inside
 * the tokens it gives up on, which would put later errors on the wrong line.
 */
function countLines(text: string): LineCounter {
  const lineCounter = new LineCounter();
  lineCounter.addNewLine(0);
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lineCounter.addNewLine(i + 1);
  return lineCounter;
}

export function parseYaml(file: string, text: string): LoadedYaml {
  const lineCounter = countLines(text);
  // stringKeys: keys are names, never lists or numbers; resolveKnownTags: false so YAML 1.1 tags such
  // as !!binary are reported below instead of turning a value into bytes.
  const doc = parseDocument(text, {
    uniqueKeys: true,
    prettyErrors: false,
    version: "1.2",
    merge: false,
    stringKeys: true,
    resolveKnownTags: false,
  });
  const raw: Diagnostic[] = [];
  // Too deep: the parser reports it once per level it unwinds, with cascades around it; one error says it.
  const tooDeep = doc.errors.find((e) => e.code === "RESOURCE_EXHAUSTION");
  for (const e of tooDeep ? [tooDeep] : doc.errors) {
    const { offset, message } = explain(e, text, doc, lineCounter);
    raw.push(at(file, lineCounter, offset, message));
  }
  for (const w of doc.warnings) {
    // An unknown tag would silently become a string: say so instead.
    if (w.code !== "TAG_RESOLVE_FAILED") continue;
    const tag = text.slice(w.pos[0], w.pos[1]).split(/\s/)[0];
    raw.push(at(file, lineCounter, w.pos[0], `unsupported YAML tag${tag.startsWith("!") ? ` '${tag}'` : ""}: write the plain value without a tag`));
  }
  if (raw.length === 0) raw.push(...emptyKeyErrors(file, doc, lineCounter));
  const diagnostics = capErrors(raw);
  let value: unknown;
  if (diagnostics.length === 0) {
    const unresolved = unresolvedAlias(doc);
    if (unresolved) {
      diagnostics.push(
        at(file, lineCounter, unresolved.range?.[0] ?? 0, `alias '*${unresolved.source}' has no anchor '&${unresolved.source}' before it`),
      );
    } else {
      try {
        value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch {
        // yaml throws for an alias bomb ("billion laughs"): point at the first alias.
        let offset = 0;
        visit(doc, {
          Alias(_, node) {
            offset = node.range?.[0] ?? 0;
            return visit.BREAK;
          },
        });
        diagnostics.push(
          at(file, lineCounter, offset, `YAML aliases expand to too much data (more than ${MAX_ALIAS_COUNT} expansions); write the values out instead`),
        );
      }
    }
  }
  return { file, doc, lineCounter, value, diagnostics };
}

/** What YAML calls "*", "&", "!"... at the start of a plain value, for the quote-it message. */
const INDICATORS: Record<string, string> = {
  "*": "makes it an alias",
  "&": "makes it an anchor",
  "!": "makes it a tag",
  "@": "is reserved",
  "`": "is reserved",
  "%": "starts a directive",
};

/**
 * The parser's error in the words of someone fixing a service.yaml: the commonest slips (no space
 * after ':', an unquoted cron schedule, a colon inside a value, misaligned keys) get their fix.
 */
function explain(e: YAMLError, text: string, doc: Document.Parsed, lineCounter: LineCounter): { offset: number; message: string } {
  const offset = e.pos[0];
  const fixed = YAML_MESSAGES[e.code];
  if (fixed) return { offset, message: fixed };
  const { line } = lineCounter.linePos(Math.min(offset, text.length));
  const lineStart = lineCounter.lineStarts[line - 1] ?? 0;
  const lineText = text.slice(lineStart, text.indexOf("\n", lineStart) < 0 ? text.length : text.indexOf("\n", lineStart)).replace(/\r$/, "");
  switch (e.code) {
    case "DUPLICATE_KEY": {
      const dup = duplicateKeyAt(doc, offset);
      if (!dup) return { offset, message: "duplicate key: each key may appear once in a mapping" };
      const first = lineCounter.linePos(dup.firstOffset).line;
      return { offset, message: `duplicate key '${dup.key}': already set on line ${first}; each key may appear once in a mapping` };
    }
    case "TAB_AS_INDENT":
      return { offset, message: "tab used for indentation: YAML indents with spaces only; replace the tab with spaces" };
    case "MISSING_CHAR":
      if (/^Missing closing .?quote/.test(e.message)) {
        // yaml reports where the text ran out; the opening quote is what needs fixing.
        const open = quotedScalarEndingAt(doc, offset);
        if (open !== undefined) return { offset: open, message: `unclosed quote: this string never ends; add the closing ${text[open]}` };
      }
      break;
    case "BLOCK_AS_IMPLICIT_KEY":
      return {
        offset,
        message: "a value cannot contain ': ' unless quoted: quote the whole value, or put a nested key on its own, more indented line",
      };
    case "BAD_INDENT":
      if (/same column/.test(e.message)) {
        return { offset, message: "keys of one mapping must start at the same column: fix the indentation of this line" };
      }
      break;
  }
  // key:value with no space reads as one plain word, which breaks the mapping around it.
  const noSpace = /^(\s*(?:-\s+)?)([A-Za-z_][A-Za-z0-9_.-]*):([^\s:/\\][^#]*?)\s*$/.exec(lineText);
  if (noSpace) {
    return {
      offset: lineStart + noSpace[1].length + noSpace[2].length + 1,
      message: `missing space after ':': write '${noSpace[2]}: ${noSpace[3]}'`,
    };
  }
  // A plain value may not start with an indicator: `schedule: */10 * * * *` reads as aliases.
  const special = /^(\s*(?:-\s+)?(?:[A-Za-z_][A-Za-z0-9_.-]*:\s+)?)([*&!@`%])(.*?)\s*$/.exec(lineText);
  if (special && /alias|anchor|tag|reserved|Unexpected|directive/i.test(e.message)) {
    const value = special[2] + special[3];
    return {
      offset: lineStart + special[1].length,
      message: `'${special[2]}' at the start of a value ${INDICATORS[special[2]]} in YAML; quote the value: ${JSON.stringify(value)}`,
    };
  }
  if (e.code === "MULTILINE_IMPLICIT_KEY") {
    return { offset, message: "this line is not 'key: value' (a missing ':'?), so YAML reads it and the next line as one key" };
  }
  return { offset, message: `invalid YAML: ${e.message.split("\n")[0]}` };
}

/** One error per position, at most MAX_YAML_ERRORS, then a count of the rest. */
function capErrors(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const unique = ds
    .sort((a, b) => a.line - b.line || a.col - b.col)
    .filter((d) => {
      const key = `${d.line}:${d.col}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  if (unique.length <= MAX_YAML_ERRORS) return unique;
  const rest = unique.length - MAX_YAML_ERRORS + 1;
  const next = unique[MAX_YAML_ERRORS - 1];
  return [
    ...unique.slice(0, MAX_YAML_ERRORS - 1),
    { ...next, message: `${rest} more YAML errors from here on, not shown; fix the ones above first (later ones often follow from them)` },
  ];
}

/** `: value` with no key reads as the key "" and would be reported as an unknown key without a position. */
function emptyKeyErrors(file: string, doc: Document.Parsed, lineCounter: LineCounter): Diagnostic[] {
  const out: Diagnostic[] = [];
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key;
      if (key === null || (isScalar(key) && (key.value === null || key.value === ""))) {
        const offset = (isScalar(key) ? key.range?.[0] : undefined) ?? (pair.value as Node | null)?.range?.[0] ?? 0;
        out.push(at(file, lineCounter, offset, "a key is missing before ':'"));
      }
    },
  });
  return out;
}

function unresolvedAlias(doc: Document.Parsed): Alias | undefined {
  let found: Alias | undefined;
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) === undefined) {
        found = node;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/** Start offset of the quoted scalar that ends at `end`, if any. */
function quotedScalarEndingAt(doc: Document.Parsed, end: number): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Scalar(_, node) {
      if ((node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE") && node.range && node.range[1] === end) {
        found = node.range[0];
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/** The duplicated key whose later occurrence is at `offset`, and where it is first set. */
function duplicateKeyAt(doc: Document.Parsed, offset: number): { key: string; firstOffset: number } | undefined {
  let found: { key: string; firstOffset: number } | undefined;
  visit(doc, {
    Map(_, map) {
      const pair = map.items.find((p) => isScalar(p.key) && p.key.range && p.key.range[0] <= offset && offset <= p.key.range[1]);
      if (!pair || !isScalar(pair.key)) return undefined;
      const key = String(pair.key.value);
      const first = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      found = { key, firstOffset: (first?.key as Node | undefined)?.range?.[0] ?? offset };
      return visit.BREAK;
    },
  });
  return found;
}

const READ_ERRORS: Partial<Record<string, string>> = {
  EISDIR: "it is a directory, not a file",
  EACCES: "permission denied",
  ENOENT: "no such file",
};

export async function loadYamlFile(file: string, absPath: string): Promise<LoadedYaml | Diagnostic> {
  let buf: Buffer;
  try {
    buf = await readFile(absPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = (code && READ_ERRORS[code]) ?? code ?? String(err);
    return { file, line: 1, col: 1, severity: "error", message: `cannot read file: ${why}` };
  }
  if (buf.length > MAX_YAML_BYTES) {
    return { file, line: 1, col: 1, severity: "error", message: `file is ${buf.length} bytes; at most ${MAX_YAML_BYTES} are read` };
  }
  const text = buf.toString("utf8");
  const bad = firstInvalidUtf8(buf, text);
  if (bad !== undefined) {
    const before = text.slice(0, bad.index);
    const line = before.split("\n").length;
    const col = bad.index - (before.lastIndexOf("\n") + 1) + 1;
    const byte = buf[bad.byteOffset].toString(16).toUpperCase().padStart(2, "0");
    return { file, line, col, severity: "error", message: `file is not valid UTF-8 (byte 0x${byte}); save it as UTF-8` };
  }
  return parseYaml(file, text);
}

/**
 * Where the first invalid UTF-8 sequence is: the first U+FFFD in the decoded text that is not a
 * literal U+FFFD in the file. Up to there the text is valid, so its byte length is the byte offset.
 */
function firstInvalidUtf8(buf: Buffer, text: string): { index: number; byteOffset: number } | undefined {
  let byteOffset = 0;
  let from = 0;
  for (let index = text.indexOf("\uFFFD"); index >= 0; index = text.indexOf("\uFFFD", index + 1)) {
    byteOffset += Buffer.byteLength(text.slice(from, index));
    if (!(buf[byteOffset] === 0xef && buf[byteOffset + 1] === 0xbf && buf[byteOffset + 2] === 0xbd)) return { index, byteOffset };
    byteOffset += 3;
    from = index + 1;
  }
  return undefined;
}

/**
 * Source position of the node at `path`. `part: "key"` points at the key of the last segment
 * (for unknown or misspelt keys); otherwise at its value. Falls back to the deepest node found.
 */
export function positionOf(loaded: LoadedYaml, path: YamlPath, part: "key" | "value" = "value"): { line: number; col: number } {
  let node: unknown = loaded.doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node;
      if (last && part === "key") {
        offset = keyNode.range?.[0] ?? offset;
        break;
      }
      const valueNode = pair.value as Node | null;
      // An empty value (`key:`) has no range of its own: point at the key.
      offset = valueNode?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      node = valueNode;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return loaded.lineCounter.linePos(offset);
}

export function diagnosticAt(loaded: LoadedYaml, path: YamlPath, message: string, part: "key" | "value" = "value"): Diagnostic {
  const { line, col } = positionOf(loaded, path, part);
  return { file: loaded.file, line, col, severity: "error", message };
}
