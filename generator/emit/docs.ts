// docs/service-yaml.md: the reference of service.yaml and nixway.yaml, rendered from the JSON
// schemas (descriptions, types, ranges, defaults, enums) so the docs cannot drift from validation.
// Pure and deterministic: schema order, no timestamps, no paths from this machine.
import repoSchema from "../../schemas/nixway.schema.json" with { type: "json" };
import serviceSchema from "../../schemas/service.schema.json" with { type: "json" };
import { REGENERATE_COMMAND, type GeneratedFile } from "./types.ts";

export const DOCS_PATH = "docs/service-yaml.md";

type Schema = {
  $ref?: string;
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  not?: Schema;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  items?: Schema;
  title?: string;
  $defs?: Record<string, Schema>;
};

/** One documented key: its dotted path as users write it, and its schema with $refs resolved. */
interface Entry {
  path: string;
  schema: Schema;
  required: boolean;
  depth: number;
}

/** Resolves local "#/..." references; a referring schema's own keywords (its description) win. */
function resolve(root: Schema, schema: Schema): Schema {
  if (!schema.$ref) return schema;
  const target = schema.$ref
    .replace(/^#\//, "")
    .split("/")
    .reduce<unknown>((node, seg) => (node as Record<string, unknown>)[seg], root) as Schema;
  const { $ref: _ref, ...own } = schema;
  return { ...resolve(root, target), ...own };
}

/** Every key of an object schema, depth first in schema order; maps get a `<placeholder>` segment. */
function entries(root: Schema, schema: Schema, prefix: string, depth: number): Entry[] {
  const out: Entry[] = [];
  for (const [key, raw] of Object.entries(schema.properties ?? {})) {
    const s = resolve(root, raw);
    const path = prefix ? `${prefix}.${key}` : key;
    out.push({ path, schema: s, required: (schema.required ?? []).includes(key), depth });
    out.push(...children(root, s, path, depth + 1));
  }
  return out;
}

function children(root: Schema, s: Schema, path: string, depth: number): Entry[] {
  if (s.properties) return entries(root, s, path, depth);
  if (typeof s.additionalProperties === "object") {
    const value = resolve(root, s.additionalProperties);
    // A map of mappings (stacks): document the inner keys under `<stack>`.
    if (value.properties) {
      const placeholder = path === "stacks" ? "<stack>" : "<name>";
      const inner = `${path}.${placeholder}`;
      return [{ path: inner, schema: value, required: false, depth }, ...entries(root, value, inner, depth + 1)];
    }
  }
  return [];
}

const TYPE_NAMES: Record<string, string> = {
  string: "string",
  integer: "integer",
  number: "number",
  boolean: "boolean",
  object: "mapping",
  array: "list",
  null: "empty",
};

function typeOf(root: Schema, s: Schema): string {
  if (s.enum) return "string";
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  const names = types.map((t) => TYPE_NAMES[t] ?? t);
  if (types.includes("array") && s.items) return `list of ${typeOf(root, resolve(root, s.items))}s`;
  if (types.includes("object") && !s.properties && typeof s.additionalProperties === "object") {
    const value = resolve(root, s.additionalProperties);
    if (!value.properties) return `mapping of ${typeOf(root, value)}s`;
  }
  return names.join(" or ") || "any";
}

/** "1-65535", "at most 100 entries", "exactly 1 entry", "not empty"... */
function range(lo: number | undefined, hi: number | undefined, one = "", many = one): string | undefined {
  const unit = (n: number) => (one ? ` ${n === 1 ? one : many}` : "");
  if (lo !== undefined && hi !== undefined) return lo === hi ? `exactly ${lo}${unit(lo)}` : `${lo}-${hi}${unit(hi)}`;
  if (lo === 1 && one) return "not empty";
  if (lo !== undefined) return `at least ${lo}${unit(lo)}`;
  if (hi !== undefined) return `at most ${hi}${unit(hi)}`;
  return undefined;
}

function code(v: unknown): string {
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** What values are allowed, from the validation keywords, as short phrases. */
function constraints(root: Schema, s: Schema): string[] {
  const out: string[] = [];
  if (s.enum) out.push(`one of ${s.enum.map(code).join(", ")}`);
  const num = range(s.minimum, s.maximum);
  if (num) out.push(num);
  if (s.not?.enum) out.push(`not ${s.not.enum.map(code).join(", ")}`);
  const len = range(s.minLength, s.maxLength, "character", "characters");
  if (len) out.push(len);
  if (s.pattern) out.push(`matches ${code(s.pattern)}`);
  const items = range(s.minItems, s.maxItems, "item", "items");
  if (items) out.push(items);
  if (s.uniqueItems) out.push("no duplicates");
  if (s.items) {
    const item = resolve(root, s.items);
    const c = constraints(root, item);
    if (c.length) out.push(`each item: ${c.join(", ")}`);
  }
  const props = range(s.minProperties, s.maxProperties, "entry", "entries");
  if (props) out.push(props);
  if (s.propertyNames) {
    const c = constraints(root, resolve(root, s.propertyNames));
    if (c.length) out.push(`each name: ${c.join(", ")}`);
  }
  if (typeof s.additionalProperties === "object") {
    const value = resolve(root, s.additionalProperties);
    const c = value.properties ? [] : constraints(root, value);
    if (c.length) out.push(`each value: ${c.join(", ")}`);
  }
  return out;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** A stack's override defaults to the service's own value, not to the schema default of the key. */
function defaultOf(e: Entry): string | undefined {
  const m = /^stacks\.<stack>\.(\w+)$/.exec(e.path);
  if (m) return `the service's ${code(m[1])}`;
  return e.schema.default === undefined ? undefined : code(e.schema.default);
}

function requiredText(e: Entry): string {
  if (!e.required) return "no";
  const dot = e.path.lastIndexOf(".");
  return dot < 0 ? "yes" : `yes, when ${code(e.path.slice(0, dot))} is set`;
}

function summaryTable(root: Schema, list: Entry[], anchors: Map<Entry, string>): string[] {
  const lines = ["| Key | Type | Required | Default |", "| --- | --- | --- | --- |"];
  for (const e of list) {
    lines.push(`| [${code(e.path)}](#${anchors.get(e)}) | ${cell(typeOf(root, e.schema))} | ${e.required ? "yes" : ""} | ${cell(defaultOf(e) ?? "")} |`);
  }
  return lines;
}

/**
 * GitHub's anchors for "### `a.b`" headings: lowercase, punctuation other than - and _ dropped,
 * and a -1, -2... suffix when a heading repeats (both files have `$schema`).
 */
class Anchors {
  private readonly seen = new Map<string, number>();
  next(path: string): string {
    const base = path.toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-");
    const n = this.seen.get(base) ?? 0;
    this.seen.set(base, n + 1);
    return n === 0 ? base : `${base}-${n}`;
  }
}

function section(root: Schema, e: Entry): string[] {
  const lines = [`### ${code(e.path)}`, ""];
  if (e.schema.description) lines.push(e.schema.description, "");
  lines.push(`- Type: ${typeOf(root, e.schema)}`);
  lines.push(`- Required: ${requiredText(e)}`);
  const def = defaultOf(e);
  if (def !== undefined) lines.push(`- Default: ${def}`);
  const c = constraints(root, e.schema);
  if (c.length) lines.push(`- Allowed: ${c.join("; ")}`);
  lines.push("");
  return lines;
}

function reference(
  title: string,
  file: string,
  schemaFile: string,
  intro: string[],
  example: string,
  root: Schema,
  anchorNames: Anchors,
): string[] {
  const list = entries(root, root, "", 0);
  const anchors = new Map(list.map((e) => [e, anchorNames.next(e.path)]));
  return [
    `## ${title}`,
    "",
    root.description ?? "",
    "",
    ...intro,
    "",
    "```yaml",
    example.trimEnd(),
    "```",
    "",
    `For completion and checks while typing, make the first line of ${code(file)}: ${code(`# yaml-language-server: $schema=${schemaFile}`)}.`,
    "",
    ...summaryTable(root, list, anchors),
    "",
    ...list.flatMap((e) => section(root, e)),
  ];
}

/** The smallest service.yaml plus a few common settings; docs.test.ts checks that it validates. */
const SERVICE_EXAMPLE = `name: hello
port: 8080
app:
  entry: index.ts
healthCheck:
  path: /health
environmentVariables:
  NODE_ENV: production
secretEnvironmentVariables:
  API_KEY: api-key
stacks:
  testing:
    maxScale: 2
  production:
    minScale: 1
`;

const REPO_EXAMPLE = `region: fr-par
registryNamespace: my-namespace
projectId: 105bdce1-64c0-48ab-899d-868455867ecf
stateBucket: my-pulumi-state
apiSecret:
  command: [pass, scaleway/api-secret]
`;

export function renderDocs(): string {
  const service = serviceSchema as Schema;
  const repo = repoSchema as Schema;
  const anchors = new Anchors();
  const lines = [
    `<!-- Generated by nixway from schemas/service.schema.json and schemas/nixway.schema.json; do not edit. Regenerate: ${REGENERATE_COMMAND} -->`,
    "",
    "# service.yaml and nixway.yaml reference",
    "",
    "Each service is a directory `services/<name>/` holding `service.yaml` and its Bun app; `nixway.yaml` at the repository root holds what all services share.",
    "`npx nixway validate` checks both and prints every problem as `FILE:LINE:COL: error: MESSAGE`.",
    "",
    ...reference(
      "service.yaml",
      "services/<name>/service.yaml",
      "../../schemas/service.schema.json",
      [
        "Keys are case-sensitive and unknown keys are errors. Environment variable values are strings: quote numbers and booleans (`WORKERS: \"4\"`).",
        "Secrets never go in this file: `secretEnvironmentVariables` maps each variable to a Pulumi config key, and the value is stored with `pulumi config set --secret <key>`.",
      ],
      SERVICE_EXAMPLE,
      service,
      anchors,
    ),
    ...reference(
      "nixway.yaml",
      "nixway.yaml",
      "schemas/nixway.schema.json",
      ["Optional: without it every setting has its default."],
      REPO_EXAMPLE,
      repo,
      anchors,
    ),
  ];
  // One blank line between blocks, LF, a final newline.
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

export function emitDocs(): GeneratedFile[] {
  return [{ path: DOCS_PATH, content: renderDocs(), mode: 0o644 }];
}
