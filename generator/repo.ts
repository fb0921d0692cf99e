// Loads a whole repository: nixway.yaml and every services/*/service.yaml, all errors at once.
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { didYouMean, InputError, UsageError, type Diagnostic } from "./diagnostics.ts";
import { loadYamlFile, type LoadedYaml } from "./load.ts";
import type { Repo, Service } from "./model.ts";
import { duplicateNameErrors, validateRepoConfig, validateService } from "./validate.ts";

export const REPO_CONFIG_FILE = "nixway.yaml";
export const SERVICES_DIR = "services";
export const SERVICE_FILE = "service.yaml";
/** The Pulumi component generated programs import, relative to a toolkit root. */
export const COMPONENT_MODULE = "generator/pulumi/container-service.ts";
/** The toolkit this code runs from (generator/ is one level below it). */
export const RUNNING_TOOLKIT_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The repo root: --root when given, else the nearest ancestor of cwd holding nixway.yaml or services/. */
export function findRoot(explicit: string | undefined, cwd = process.cwd()): string {
  if (explicit !== undefined) {
    const abs = path.resolve(cwd, explicit);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new UsageError(`--root ${explicit}: no such directory`);
    return abs;
  }
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, REPO_CONFIG_FILE)) || existsSync(path.join(dir, SERVICES_DIR))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(cwd);
  }
}

export interface LoadedRepo extends Repo {
  /** The parsed YAML of each valid service, for positioned follow-up diagnostics. */
  sources: Map<string, LoadedYaml>;
}

/** Service directories under services/, sorted. */
export function serviceDirs(root: string): string[] {
  const dir = path.join(root, SERVICES_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
}

/**
 * Loads and validates the repository. `only` restricts the services (by name or directory);
 * an unknown one is a usage error. Throws InputError with every diagnostic when anything is invalid.
 * `opts.skipDirs`: directory names under services/ that are not services (generate passes the
 * directories of removed services that hold nothing but files it generated, to delete them).
 */
export async function loadRepo(root: string, only: readonly string[] = [], opts: { skipDirs?: ReadonlySet<string> } = {}): Promise<LoadedRepo> {
  const diagnostics: Diagnostic[] = [];
  const configPath = path.join(root, REPO_CONFIG_FILE);
  let configYaml: LoadedYaml | undefined;
  if (existsSync(configPath)) {
    const r = await loadYamlFile(REPO_CONFIG_FILE, configPath);
    if ("doc" in r) configYaml = r;
    else diagnostics.push(r);
  }
  const { config, diagnostics: configDiagnostics } = validateRepoConfig(configYaml);
  diagnostics.push(...configDiagnostics);

  const dirs = serviceDirs(root).filter((d) => !opts.skipDirs?.has(d));
  const found: { service: Service; loaded: LoadedYaml }[] = [];
  const loadedAll: { dir: string; loaded?: LoadedYaml; service?: Service }[] = [];
  for (const d of dirs) {
    const rel = `${SERVICES_DIR}/${d}`;
    const file = `${rel}/${SERVICE_FILE}`;
    const abs = path.join(root, file);
    if (!existsSync(abs)) {
      loadedAll.push({ dir: d });
      diagnostics.push(...missingServiceFile(root, d));
      continue;
    }
    const r = await loadYamlFile(file, abs);
    if (!("doc" in r)) {
      loadedAll.push({ dir: d });
      diagnostics.push(r);
      continue;
    }
    const { service, diagnostics: ds } = validateService(r, {
      dir: rel,
      isFile: (p) => {
        try {
          return statSync(path.join(root, p)).isFile();
        } catch {
          return false;
        }
      },
    });
    loadedAll.push({ dir: d, loaded: r, service });
    if (service) found.push({ service, loaded: r });
    diagnostics.push(...ds);
  }
  diagnostics.push(...duplicateNameErrors(found));

  let selected = found;
  if (only.length) {
    const known = loadedAll.map((l) => l.service?.name ?? l.dir);
    selected = [];
    const prefixes: string[] = [];
    for (const want of only) {
      const hit = loadedAll.find((l) => l.service?.name === want || l.dir === want);
      if (!hit) {
        const guess = didYouMean(want, known);
        throw new UsageError(
          `no service '${want}' under ${SERVICES_DIR}/${guess ? `; did you mean '${guess}'?` : ""} (known: ${known.join(", ") || "none"})`,
        );
      }
      prefixes.push(`${SERVICES_DIR}/${hit.dir}/`);
      if (hit.service && hit.loaded && !selected.some((s) => s.service === hit.service)) selected.push({ service: hit.service, loaded: hit.loaded });
    }
    // Only report the selected services' own problems (plus nixway.yaml's).
    const relevant = diagnostics.filter((d) => d.file === REPO_CONFIG_FILE || prefixes.some((p) => d.file.startsWith(p)));
    if (relevant.length) throw new InputError(relevant);
  } else if (diagnostics.length) {
    throw new InputError(diagnostics);
  }
  const services = selected.map((s) => s.service).sort((a, b) => a.name.localeCompare(b.name));
  return {
    root,
    config: config!,
    services,
    toolkitRoot: existsSync(path.join(root, COMPONENT_MODULE)) ? root : RUNNING_TOOLKIT_ROOT,
    sources: new Map(selected.map((s) => [s.service.name, s.loaded])),
  };
}

/** Why services/<dir> has no service.yaml: a misnamed file, or none at all. */
function missingServiceFile(root: string, dir: string): Diagnostic[] {
  const rel = `${SERVICES_DIR}/${dir}`;
  const misnamed = readdirSync(path.join(root, rel))
    .filter((f) => f !== SERVICE_FILE && /^services?\.(ya?ml|json)$/i.test(f))
    .sort();
  if (misnamed.length) {
    return misnamed.map((f) => ({
      file: `${rel}/${f}`,
      line: 1,
      col: 1,
      severity: "error",
      message: `service files are named ${SERVICE_FILE}; rename ${f} to ${SERVICE_FILE}`,
    }));
  }
  return [
    {
      file: `${rel}/${SERVICE_FILE}`,
      line: 1,
      col: 1,
      severity: "error",
      message: `no such file: every directory under ${SERVICES_DIR}/ is a service and needs a ${SERVICE_FILE}; write one (see docs/service-yaml.md) or remove ${rel}/`,
    },
  ];
}

/** One service by name, for commands that take SERVICE. */
export async function loadService(root: string, name: string): Promise<{ repo: LoadedRepo; service: Service }> {
  const repo = await loadRepo(root, [name]);
  return { repo, service: repo.services[0] };
}
