// Stage 2: JSON Schema (ajv, all errors) plus the rules a schema cannot say, every
// failure translated into a positioned, human message: what was found, what is allowed.
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import serviceSchema from "../schemas/service.schema.json" with { type: "json" };
import repoSchema from "../schemas/nixway.schema.json" with { type: "json" };
import { didYouMean, type Diagnostic } from "./diagnostics.ts";
import { diagnosticAt, type LoadedYaml, type YamlPath } from "./load.ts";
import { parseCron } from "./cron.ts";
import { isTimeZone, knownTimeZones } from "./timezones.ts";
import {
  applyStack,
  DEFAULTS,
  RESERVED_PORTS,
  toRepoConfig,
  toService,
  type RawRepoConfig,
  type RawService,
  type RepoConfig,
  type Service,
} from "./model.ts";

type Schema = Record<string, unknown>;

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
let serviceValidator: ValidateFunction | undefined;
let repoValidator: ValidateFunction | undefined;

export const SERVICE_SCHEMA = serviceSchema as Schema;
export const REPO_SCHEMA = repoSchema as Schema;

function pathOf(instancePath: string): string[] {
  if (instancePath === "") return [];
  return instancePath
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** `a.b.c` as a user reads it in YAML. */
function dotted(path: YamlPath): string {
  return path.length === 0 ? "the document" : path.join(".");
}

function describe(value: unknown): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `string ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + "..." : value)}`;
  if (typeof value === "number") return Number.isInteger(value) ? `integer ${value}` : `number ${value}`;
  return `${typeof value} ${String(value)}`;
}

/** Values under secretEnvironmentVariables may be pasted secrets: say what they are, never what they hold. */
function isSecretPath(path: YamlPath): boolean {
  return path[0] === "secretEnvironmentVariables";
}

function describeSafely(path: YamlPath, value: unknown): string {
  if (!isSecretPath(path) || value === null || typeof value === "object") return describe(value);
  return `a ${typeof value === "number" ? "number" : typeof value} (value not shown)`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The fix for the commonest type slips: quoted numbers, unquoted numbers or booleans where text is wanted. */
function typeHint(path: YamlPath, want: string, found: unknown): string {
  if (isSecretPath(path) && path.length > 1) return "";
  if ((want === "integer" || want === "number") && typeof found === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(found)) {
    return "; remove the quotes";
  }
  if ((want === "integer" || want === "number") && typeof found === "string" && /^\s*\d+(\.\d+)?\s*[A-Za-z]+\s*$/.test(found)) {
    const unit = unitOf(path).trim();
    return `; write the number alone${unit ? `, in ${unit}` : ""}`;
  }
  if (want === "string" && (typeof found === "number" || typeof found === "boolean")) {
    return `; quote it: "${String(found)}"`;
  }
  if (want === "string" && found === null && path.length > 1) return `; write "" for an empty string`;
  if (want === "object" && found === null) return "; write its keys on the lines below it, indented";
  if (want === "array" && typeof found === "string") return `; write a list, e.g. [${found.trim().split(/\s+/).slice(0, 3).join(", ")}]`;
  return "";
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

const TYPE_WORDS: Record<string, string> = {
  integer: "a whole number",
  number: "a number",
  string: "a string",
  object: "a mapping (key: value lines)",
  array: "a list",
  boolean: "true or false",
  null: "nothing",
};

/** The Pulumi config key to suggest for a secret env name: API_KEY -> api-key. */
function suggestedConfigKey(envName: string): string {
  const key = envName.toLowerCase().replace(/_+/g, "-").replace(/^-+|-+$/g, "");
  return /^[a-z][a-z0-9-]*$/.test(key) ? key : "<key>";
}

/** A specific message for a failed `pattern`, keyed by the field; falls back to the regex. */
function patternMessage(path: readonly string[], found: unknown, pattern: string, serviceDir: string): string {
  const field = path[path.length - 1];
  const parent = path[path.length - 2];
  if (path.length === 1 && field === "name") {
    return `name ${JSON.stringify(found)} is not a valid container name: use 2-34 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`;
  }
  if (parent === "secretEnvironmentVariables") {
    // Never echo the value: it may be a pasted secret.
    const key = suggestedConfigKey(field);
    return (
      `secretEnvironmentVariables.${field} must name a Pulumi config key (lowercase letters, digits and '-'), not hold the secret itself ` +
      `(value not shown). Write '${field}: ${key}' here and store the secret with: pulumi config set --secret ${key} ` +
      `(in ${serviceDir}/infra, once per stack). If the value was ever committed, rotate the secret`
    );
  }
  if (field === "path") return `${dotted(path)} ${JSON.stringify(found)} must be a URL path starting with / (letters, digits and -._~!$&'()*+,;=:@%/)`;
  if (field === "entry" || field === "dir") {
    const inside = field === "entry" ? "the app directory" : "the service directory";
    return `${dotted(path)} ${JSON.stringify(found)} must be a relative path inside ${inside} (letters, digits and ._-/; no leading /, no '..')`;
  }
  if (field === "domain") {
    const hint = typeof found === "string" && /[:/]/.test(found) ? " (only the hostname: no https://, port or path)" : "";
    return `domain ${JSON.stringify(found)} is not a hostname: use lowercase labels separated by dots, e.g. api.example.com${hint}`;
  }
  if (path[0] === "image") return `${dotted(path)} ${JSON.stringify(found)} is not a nixpkgs attribute name (e.g. busybox or python3Packages.requests)`;
  if (field === "registry") return `registry ${JSON.stringify(found)} must be HOST[:PORT]/NAMESPACE, e.g. rg.fr-par.scw.cloud/my-namespace`;
  if (field === "projectId") return `projectId ${JSON.stringify(found)} must be a Scaleway project id (a lowercase UUID)`;
  if (field === "registryNamespace") {
    return `registryNamespace ${JSON.stringify(found)} is not a namespace name: lowercase letters, digits and '-', starting and ending with a letter or digit`;
  }
  if (field === "stateBucket") {
    return `stateBucket ${JSON.stringify(found)} is not a bucket name: lowercase letters, digits, '.' and '-', starting and ending with a letter or digit`;
  }
  if (path.length === 2 && path[0] === "apiSecret" && field === "env") {
    return `apiSecret.env ${JSON.stringify(found)} is not an environment variable name: letters, digits and '_', not starting with a digit`;
  }
  return `${dotted(path)}: ${describe(found)} does not match the pattern ${pattern}`;
}

function translate(loaded: LoadedYaml, e: ErrorObject): Diagnostic {
  const serviceDir = loaded.file.replace(/\/[^/]*$/, "");
  const path = pathOf(e.instancePath);
  const found = valueAt(loaded.value, path);
  const params = e.params as Record<string, unknown>;
  const parentSchema = (e.parentSchema ?? {}) as Schema;
  switch (e.keyword) {
    case "required": {
      const key = String(params.missingProperty);
      const props = (parentSchema.properties ?? {}) as Record<string, Schema>;
      const hint = typeof props[key]?.description === "string" ? ` (${firstSentence(props[key].description as string)})` : "";
      const where = path.length === 0 ? "" : ` in ${dotted(path)}`;
      return diagnosticAt(loaded, path, `missing required key '${key}'${where}${hint}`, path.length ? "key" : "value");
    }
    case "additionalProperties": {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((parentSchema.properties ?? {}) as object).filter((k) => k !== "$schema");
      const guess = didYouMean(key, allowed);
      const where = path.length === 0 ? "" : ` in ${dotted(path)}`;
      let msg = `unknown key '${key}'${where}${guess ? `; did you mean '${guess}'?` : ""} (allowed: ${allowed.join(", ")})`;
      // A service-wide setting written inside a stack: say why it is refused there.
      if (path.length === 2 && path[0] === "stacks" && !guess && Object.hasOwn(SERVICE_SCHEMA.properties as object, key)) {
        msg = `unknown key '${key}' in ${dotted(path)}: ${key} is set once for the whole service, not per stack (allowed here: ${allowed.join(", ")})`;
      }
      return diagnosticAt(loaded, [...path, key], msg, "key");
    }
    case "propertyNames": {
      const key = String(params.propertyName);
      const container = path[path.length - 1];
      let msg: string;
      if (container === "stacks") {
        msg = `stack name '${key}' is invalid: use a lowercase letter then up to 39 of a-z, 0-9 and '-' (e.g. testing, production)`;
      } else {
        msg = `environment variable name '${key}' in ${dotted(path)} is invalid: use letters, digits and '_', not starting with a digit, at most 100 characters`;
      }
      return diagnosticAt(loaded, [...path, key], msg, "key");
    }
    case "type": {
      if (isSecretPath(path) && path.length === 2) {
        if (found === null) {
          const msg = `secretEnvironmentVariables.${path[1]} is empty: write the Pulumi config key that holds the secret, e.g. '${path[1]}: ${suggestedConfigKey(path[1])}'`;
          return diagnosticAt(loaded, path, msg);
        }
        if (typeof found !== "object") return diagnosticAt(loaded, path, patternMessage(path, found, "", serviceDir));
      }
      const types = String(params.type).split(",");
      const want = types.map((t) => TYPE_WORDS[t] ?? t).join(" or ");
      return diagnosticAt(loaded, path, `${dotted(path)} must be ${want}, found ${describeSafely(path, found)}${typeHint(path, types[0], found)}`);
    }
    case "minimum":
    case "maximum": {
      const lo = parentSchema.minimum;
      const hi = parentSchema.maximum;
      const range = lo !== undefined && hi !== undefined ? `${lo}-${hi}` : e.keyword === "minimum" ? `at least ${lo}` : `at most ${hi}`;
      return diagnosticAt(loaded, path, `${dotted(path)} is ${String(found)}; allowed: ${range}${unitOf(path)}`);
    }
    case "minLength":
    case "maxLength": {
      if (isSecretPath(path) && path.length === 2) return diagnosticAt(loaded, path, patternMessage(path, found, "", serviceDir));
      const len = typeof found === "string" ? found.length : 0;
      const lo = parentSchema.minLength;
      const hi = parentSchema.maxLength;
      const range = lo !== undefined && hi !== undefined ? `${lo}-${hi}` : e.keyword === "minLength" ? `at least ${lo}` : `at most ${hi}`;
      const shown = isSecretPath(path) || len > 60 ? "" : ` ${JSON.stringify(found)}`;
      return diagnosticAt(loaded, path, `${dotted(path)}${shown} has ${plural(len, "character")}; allowed: ${range}`);
    }
    case "maxProperties":
    case "minProperties": {
      const n = found && typeof found === "object" ? Object.keys(found).length : 0;
      const limit = Number(params.limit);
      if (path.length === 1 && path[0] === "apiSecret") {
        return diagnosticAt(
          loaded,
          path,
          n === 0
            ? "apiSecret is empty: set either env (e.g. env: SCW_SECRET_KEY) or command (e.g. command: [pass, scaleway/api-secret])"
            : "apiSecret sets both env and command: keep one",
        );
      }
      if (path.length === 1 && path[0] === "stacks" && n === 0) {
        return diagnosticAt(loaded, path, "stacks is empty: declare at least one stack (e.g. testing: {}), or remove stacks to get testing and production");
      }
      return diagnosticAt(loaded, path, `${dotted(path)} has ${plural(n, "entry", "entries")}; ${e.keyword === "maxProperties" ? "at most" : "at least"} ${limit} allowed`);
    }
    case "minItems":
    case "maxItems": {
      const n = Array.isArray(found) ? found.length : 0;
      return diagnosticAt(loaded, path, `${dotted(path)} has ${plural(n, "item")}; ${e.keyword === "maxItems" ? "at most" : "at least"} ${params.limit} allowed`);
    }
    case "uniqueItems":
      return diagnosticAt(loaded, [...path, Number(params.i)], `${dotted(path)} lists ${describe((found as unknown[])[Number(params.i)])} twice`);
    case "pattern":
      return diagnosticAt(loaded, path, patternMessage(path, found, String(params.pattern), serviceDir));
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const guess = typeof found === "string" ? didYouMean(found, allowed) : undefined;
      const shown = typeof found === "string" ? JSON.stringify(found) : describe(found);
      return diagnosticAt(loaded, path, `${dotted(path)} is ${shown}; allowed: ${allowed.join(", ")}${guess ? `; did you mean '${guess}'?` : ""}`);
    }
    case "not":
      if (path[path.length - 1] === "port") {
        return diagnosticAt(
          loaded,
          path,
          `port ${String(found)} is reserved by Scaleway (reserved: ${RESERVED_PORTS.join(", ")}); listen on another port such as 8080`,
        );
      }
      return diagnosticAt(loaded, path, `${dotted(path)}: ${describeSafely(path, found)} is not allowed`);
    default:
      return diagnosticAt(loaded, path, `${dotted(path)}: ${e.message ?? "invalid"}`);
  }
}

/** Up to the first ". " outside parentheses and not after e.g/i.e, so "(e.g. index.ts)" stays whole. */
function firstSentence(s: string): string {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "(") depth++;
    else if (s[i] === ")") depth--;
    else if (depth === 0 && s[i] === "." && (s[i + 1] === " " || i === s.length - 1) && !/(e\.g|i\.e)$/.test(s.slice(0, i))) {
      return s.slice(0, i);
    }
  }
  return s;
}

function unitOf(path: YamlPath): string {
  const field = path[path.length - 1];
  if (field === "memoryLimit") return " MB";
  if (field === "cpuLimit") return " mVCPU";
  if (field === "timeout" || field === "interval") return " seconds";
  if (field === "imageSizeBudgetMB") return " MB";
  return "";
}

function schemaErrors(loaded: LoadedYaml, validate: ValidateFunction): Diagnostic[] {
  if (validate(loaded.value)) return [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of validate.errors ?? []) {
    // Errors raised inside `propertyNames` are restated by the propertyNames error itself.
    if ((e as ErrorObject & { propertyName?: string }).propertyName !== undefined) continue;
    // A too-short keepWarm.schedule gets the cron rule's message instead, which says what a cron expression is.
    if (e.instancePath === "/keepWarm/schedule" && e.keyword === "minLength") continue;
    const d = translate(loaded, e);
    const key = `${d.line}:${d.col}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

const APP_PATH_PATTERN = new RegExp(
  ((SERVICE_SCHEMA.properties as Record<string, Schema>).app.properties as Record<string, Schema>).entry.pattern as string,
);

function isRelativePath(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && APP_PATH_PATTERN.test(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Checks the environment-variable maps for names the platform reserves. */
function reservedEnvErrors(loaded: LoadedYaml, path: string[], env: unknown): Diagnostic[] {
  if (!isPlainObject(env)) return [];
  const out: Diagnostic[] = [];
  for (const key of Object.keys(env)) {
    if (key === "PORT") {
      out.push(diagnosticAt(loaded, [...path, key], `${dotted(path)}.PORT is reserved: Scaleway sets PORT from the service's 'port' field; remove it`, "key"));
    } else if (key.toUpperCase().startsWith("SCW_")) {
      out.push(diagnosticAt(loaded, [...path, key], `${dotted(path)}.${key} is reserved: names starting with SCW_ belong to the platform; rename it`, "key"));
    }
  }
  return out;
}

export interface ServiceCheckContext {
  /** Repo-relative service directory, e.g. services/hello. */
  dir: string;
  /** Whether a repo-relative path is an existing regular file. */
  isFile(path: string): boolean;
}

/** Validates one loaded service.yaml; returns the model when there is no error. */
export function validateService(loaded: LoadedYaml, ctx: ServiceCheckContext): { service?: Service; diagnostics: Diagnostic[] } {
  if (loaded.diagnostics.length) return { diagnostics: loaded.diagnostics };
  if (loaded.value === undefined || loaded.value === null) {
    return { diagnostics: [diagnosticAt(loaded, [], "the file is empty: a service needs at least name, port and app.entry (see docs/service-yaml.md)")] };
  }
  serviceValidator ??= ajv.compile(SERVICE_SCHEMA);
  const diagnostics = schemaErrors(loaded, serviceValidator);
  const raw = loaded.value as Record<string, unknown>;
  if (!isPlainObject(raw)) return { diagnostics };

  // Rules across fields, on whatever parts are well-typed (so all errors show at once).
  diagnostics.push(...reservedEnvErrors(loaded, ["environmentVariables"], raw.environmentVariables));
  diagnostics.push(...reservedEnvErrors(loaded, ["secretEnvironmentVariables"], raw.secretEnvironmentVariables));
  if (isPlainObject(raw.environmentVariables) && isPlainObject(raw.secretEnvironmentVariables)) {
    for (const key of Object.keys(raw.secretEnvironmentVariables)) {
      if (Object.hasOwn(raw.environmentVariables, key)) {
        diagnostics.push(
          diagnosticAt(loaded, ["secretEnvironmentVariables", key], `${key} is set in both environmentVariables and secretEnvironmentVariables; keep one`, "key"),
        );
      }
    }
  }
  // Out-of-range scales already have their own error; compare only values the schema accepts.
  const scale = (v: unknown, d: number, hi: number) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= hi ? (v as number) : d);
  const baseMin = scale(raw.minScale, DEFAULTS.minScale, 10);
  const baseMax = scale(raw.maxScale, DEFAULTS.maxScale, 50);
  if (baseMin > baseMax) {
    const at = raw.minScale !== undefined ? ["minScale"] : ["maxScale"];
    const maxNote = raw.maxScale === undefined ? " (the default)" : "";
    diagnostics.push(
      diagnosticAt(loaded, at, `minScale ${baseMin} is greater than maxScale ${baseMax}${maxNote}; minScale must be at most maxScale`),
    );
  }
  if (isPlainObject(raw.stacks)) {
    for (const [name, over] of Object.entries(raw.stacks)) {
      if (!isPlainObject(over)) continue;
      diagnostics.push(...reservedEnvErrors(loaded, ["stacks", name, "environmentVariables"], over.environmentVariables));
      const min = scale(over.minScale, baseMin, 10);
      const max = scale(over.maxScale, baseMax, 50);
      const inRange = (v: unknown, hi: number) => v === undefined || scale(v, -1, hi) !== -1;
      const overrides = over.minScale !== undefined || over.maxScale !== undefined;
      if (min > max && overrides && inRange(over.minScale, 10) && inRange(over.maxScale, 50)) {
        const at = over.minScale !== undefined ? ["stacks", name, "minScale"] : ["stacks", name, "maxScale"];
        // Say where the other value comes from: the stack, the service, or the default.
        const from = (v: unknown, base: unknown) => (v !== undefined ? "" : base !== undefined ? " (from the service)" : " (the default)");
        diagnostics.push(
          diagnosticAt(
            loaded,
            at,
            `in stack '${name}', minScale ${min}${from(over.minScale, raw.minScale)} is greater than maxScale ${max}${from(over.maxScale, raw.maxScale)}; minScale must be at most maxScale`,
          ),
        );
      }
      if (isPlainObject(over.environmentVariables) && isPlainObject(raw.secretEnvironmentVariables)) {
        for (const key of Object.keys(over.environmentVariables)) {
          if (Object.hasOwn(raw.secretEnvironmentVariables, key)) {
            diagnostics.push(
              diagnosticAt(loaded, ["stacks", name, "environmentVariables", key], `${key} is a secret of this service; a stack cannot set it as plain text`, "key"),
            );
          }
        }
      }
    }
  }
  // The custom domain is attached to one stack only (one hostname cannot point at two containers):
  // production, or the only stack. Say so rather than silently attaching it nowhere.
  if (typeof raw.domain === "string" && isPlainObject(raw.stacks)) {
    const names = Object.keys(raw.stacks);
    if (names.length > 1 && !names.includes("production")) {
      diagnostics.push(
        diagnosticAt(
          loaded,
          ["domain"],
          `domain ${JSON.stringify(raw.domain)} is attached to the 'production' stack, but the stacks are ${names.join(", ")}: declare a 'production' stack or keep a single stack`,
        ),
      );
    }
  }
  if (isPlainObject(raw.keepWarm)) {
    if (typeof raw.keepWarm.schedule === "string" && raw.keepWarm.schedule.length >= 9) {
      const r = parseCron(raw.keepWarm.schedule);
      if (!r.ok) {
        diagnostics.push(
          diagnosticAt(loaded, ["keepWarm", "schedule"], `keepWarm.schedule ${JSON.stringify(raw.keepWarm.schedule)} is not a valid cron schedule: ${r.error}`),
        );
      }
    } else if (typeof raw.keepWarm.schedule === "string") {
      diagnostics.push(
        diagnosticAt(loaded, ["keepWarm", "schedule"], `keepWarm.schedule ${JSON.stringify(raw.keepWarm.schedule)} is not a 5-field cron expression (minute hour day-of-month month day-of-week)`),
      );
    }
    const tz = raw.keepWarm.timezone;
    if (typeof tz === "string" && tz.length > 0 && !isTimeZone(tz)) {
      const guess = didYouMean(tz, knownTimeZones());
      diagnostics.push(
        diagnosticAt(loaded, ["keepWarm", "timezone"], `keepWarm.timezone ${JSON.stringify(tz)} is not an IANA time zone name${guess ? `; did you mean '${guess}'?` : " (e.g. Europe/Paris, UTC)"}`),
      );
    }
  }
  // Look for the entry file only when app.entry and app.dir are well-formed (else they have their own error).
  if (isPlainObject(raw.app) && isRelativePath(raw.app.entry) && (raw.app.dir === undefined || isRelativePath(raw.app.dir))) {
    const appDir = typeof raw.app.dir === "string" ? raw.app.dir : DEFAULTS.appDir;
    const rel = `${ctx.dir}/${appDir}/${raw.app.entry}`.split("/").filter((s) => s && s !== ".").join("/");
    if (!ctx.isFile(rel)) {
      const appRel = `${ctx.dir}/${appDir}`.split("/").filter((s) => s && s !== ".").join("/");
      diagnostics.push(
        diagnosticAt(loaded, ["app", "entry"], `app.entry ${JSON.stringify(raw.app.entry)} does not exist: no file ${rel} (entry is relative to ${appRel})`),
      );
    }
  }
  if (diagnostics.length) return { diagnostics };
  return { service: toService(raw as unknown as RawService, ctx.dir, loaded.file), diagnostics: [] };
}

/** Validates nixway.yaml (or its absence: every setting then has its default). */
export function validateRepoConfig(loaded: LoadedYaml | undefined): { config?: RepoConfig; diagnostics: Diagnostic[] } {
  if (!loaded) return { config: toRepoConfig({}, undefined), diagnostics: [] };
  if (loaded.diagnostics.length) return { diagnostics: loaded.diagnostics };
  const value = loaded.value ?? {};
  repoValidator ??= ajv.compile(REPO_SCHEMA);
  const diagnostics = schemaErrors({ ...loaded, value }, repoValidator);
  if (isPlainObject(value) && value.registry !== undefined && value.registryNamespace !== undefined) {
    diagnostics.push(diagnosticAt(loaded, ["registry"], "set either registry or registryNamespace, not both"));
  }
  if (diagnostics.length) return { diagnostics };
  return { config: toRepoConfig(value as RawRepoConfig, loaded.file), diagnostics: [] };
}

/** Names must be unique across the repo: two services would fight over one container and image. */
export function duplicateNameErrors(services: { service: Service; loaded: LoadedYaml }[]): Diagnostic[] {
  const byName = new Map<string, { service: Service; loaded: LoadedYaml }[]>();
  for (const s of services) byName.set(s.service.name, [...(byName.get(s.service.name) ?? []), s]);
  const out: Diagnostic[] = [];
  for (const [name, list] of byName) {
    if (list.length < 2) continue;
    const files = list.map((s) => s.service.file);
    for (const s of list) {
      const others = files.filter((f) => f !== s.service.file).join(", ");
      out.push(diagnosticAt(s.loaded, ["name"], `service name '${name}' is also used by ${others}; names must be unique across the repository`));
    }
  }
  return out;
}

export { applyStack };
