// Stage 1: read YAML keeping source positions. Nothing here knows what a service is.
import { readFile } from "node:fs/promises";
import { Document, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Node } from "yaml";
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

const YAML_MESSAGES: Record<string, string> = {
  DUPLICATE_KEY: "duplicate key: each key may appear once in a mapping",
  TAB_AS_INDENT: "tab used for indentation: YAML indents with spaces",
  MULTIPLE_DOCS: "more than one YAML document: a service file holds exactly one",
};

export function parseYaml(file: string, text: string): LoadedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, version: "1.2", merge: false });
  const diagnostics: Diagnostic[] = [];
  for (const e of doc.errors) {
    let message = YAML_MESSAGES[e.code] ?? `invalid YAML: ${e.message.split("\n")[0]}`;
    if (e.code === "DUPLICATE_KEY") {
      const dup = duplicateKeyAt(doc, e.pos[0]);
      if (dup !== undefined) message = `duplicate key '${dup}': each key may appear once in a mapping`;
    }
    diagnostics.push(at(file, lineCounter, e.pos[0], message));
  }
  let value: unknown;
  if (diagnostics.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      // yaml throws ReferenceError for alias bombs and unresolved aliases.
      let offset = 0;
      visit(doc, {
        Alias(_, node) {
          offset = node.range?.[0] ?? 0;
          return visit.BREAK;
        },
      });
      const why = err instanceof Error ? err.message : String(err);
      diagnostics.push(
        at(file, lineCounter, offset, `YAML aliases expand too far (${why}); at most ${MAX_ALIAS_COUNT} alias expansions are allowed`),
      );
    }
  }
  return { file, doc, lineCounter, value, diagnostics };
}

function duplicateKeyAt(doc: Document.Parsed, offset: number): string | undefined {
  let found: string | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.range && pair.key.range[0] <= offset && offset <= pair.key.range[1]) {
        found = String(pair.key.value);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

export async function loadYamlFile(file: string, absPath: string): Promise<LoadedYaml | Diagnostic> {
  let buf: Buffer;
  try {
    buf = await readFile(absPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { file, line: 1, col: 1, severity: "error", message: `cannot read file (${code ?? String(err)})` };
  }
  if (buf.length > MAX_YAML_BYTES) {
    return { file, line: 1, col: 1, severity: "error", message: `file is ${buf.length} bytes; at most ${MAX_YAML_BYTES} are read` };
  }
  const text = buf.toString("utf8");
  if (text.includes("\uFFFD") && !buf.includes(Buffer.from("\uFFFD"))) {
    return { file, line: 1, col: 1, severity: "error", message: "file is not valid UTF-8" };
  }
  return parseYaml(file, text);
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
