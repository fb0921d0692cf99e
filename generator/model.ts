// Stage 3: one typed, normalized Service. Defaults are applied here and nowhere else;
// every later stage (emitters, plan, push, deploy) reads only this model.

/** The settings a stack may override, fully resolved. */
export interface StackSettings {
  minScale: number;
  maxScale: number;
  memoryLimit: number;
  cpuLimit: number;
  /** Sorted by name. */
  environmentVariables: Record<string, string>;
}

export interface HealthCheck {
  path: string;
  failureThreshold: number;
  interval: number;
}

export interface KeepWarm {
  schedule: string;
  timezone: string;
  path: string;
}

export interface Service extends StackSettings {
  name: string;
  description: string | undefined;
  /** Service directory relative to the repo root, e.g. "services/hello". */
  dir: string;
  /** The service.yaml relative to the repo root. */
  file: string;
  port: number;
  timeout: number;
  privacy: "public" | "private";
  app: { dir: string; entry: string };
  /** Env name -> Pulumi config key; sorted by name. */
  secretEnvironmentVariables: Record<string, string>;
  healthCheck: HealthCheck | undefined;
  keepWarm: KeepWarm | undefined;
  domain: string | undefined;
  imageSizeBudgetMB: number | undefined;
  imagePackages: string[];
  /** Every declared stack with its effective settings; sorted by name. */
  stacks: Record<string, StackSettings>;
}

export type ApiSecretSource = { env: string } | { command: string[] };

export interface RepoConfig {
  region: string;
  /** HOST[:PORT]/NAMESPACE images are pushed under, when known. */
  registry: string | undefined;
  projectId: string | undefined;
  stateBucket: string | undefined;
  apiSecret: ApiSecretSource;
  /** nixway.yaml relative to the root, when present. */
  file: string | undefined;
}

export interface Repo {
  /** Absolute path of the repository root. */
  root: string;
  config: RepoConfig;
  /** Sorted by name. */
  services: Service[];
  /**
   * Absolute path of the nixway toolkit whose generator/pulumi/container-service.ts the generated
   * programs import: the repository itself when it is a nixway checkout (so the import is the same
   * wherever the checkout lives, the Nix store included), else the running toolkit.
   */
  toolkitRoot?: string;
}

export const DEFAULTS = {
  minScale: 0,
  maxScale: 5,
  memoryLimit: 256,
  cpuLimit: 140,
  timeout: 300,
  privacy: "public",
  appDir: "app",
  failureThreshold: 3,
  interval: 10,
  timezone: "UTC",
  stacks: ["production", "testing"],
  region: "fr-par",
  apiSecretEnv: "SCW_SECRET_KEY",
} as const;

/** Platform rules shared by the schema, the validator and the emitters. */
export const RESERVED_PORTS: readonly number[] = [8008, 8012, 8013, 8022, 9090, 9091];

export function sortedRecord<T>(rec: Record<string, T> | undefined | null): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(rec ?? {}).sort()) out[k] = (rec as Record<string, T>)[k];
  return out;
}

/* The raw shapes as the schema allows them (after validation). */
interface RawStack {
  minScale?: number;
  maxScale?: number;
  memoryLimit?: number;
  cpuLimit?: number;
  environmentVariables?: Record<string, string>;
}

export interface RawService extends RawStack {
  name: string;
  description?: string;
  port: number;
  timeout?: number;
  privacy?: "public" | "private";
  app: { entry: string; dir?: string };
  secretEnvironmentVariables?: Record<string, string>;
  healthCheck?: { path: string; failureThreshold?: number; interval?: number };
  keepWarm?: { schedule: string; timezone?: string; path?: string };
  domain?: string;
  imageSizeBudgetMB?: number;
  image?: { packages?: string[] };
  stacks?: Record<string, RawStack | null>;
}

export interface RawRepoConfig {
  region?: string;
  registryNamespace?: string;
  registry?: string;
  projectId?: string;
  stateBucket?: string;
  apiSecret?: { env?: string; command?: string[] };
}

/** Base settings with one stack's overrides applied (environment variables merge, the stack wins). */
export function applyStack(base: StackSettings, over: RawStack | null | undefined): StackSettings {
  return {
    minScale: over?.minScale ?? base.minScale,
    maxScale: over?.maxScale ?? base.maxScale,
    memoryLimit: over?.memoryLimit ?? base.memoryLimit,
    cpuLimit: over?.cpuLimit ?? base.cpuLimit,
    environmentVariables: sortedRecord({ ...base.environmentVariables, ...(over?.environmentVariables ?? {}) }),
  };
}

export function toService(raw: RawService, dir: string, file: string): Service {
  const base: StackSettings = {
    minScale: raw.minScale ?? DEFAULTS.minScale,
    maxScale: raw.maxScale ?? DEFAULTS.maxScale,
    memoryLimit: raw.memoryLimit ?? DEFAULTS.memoryLimit,
    cpuLimit: raw.cpuLimit ?? DEFAULTS.cpuLimit,
    environmentVariables: sortedRecord(raw.environmentVariables),
  };
  const stackNames = raw.stacks ? Object.keys(raw.stacks).sort() : [...DEFAULTS.stacks];
  const stacks: Record<string, StackSettings> = {};
  for (const s of stackNames) stacks[s] = applyStack(base, raw.stacks?.[s]);
  const healthCheck = raw.healthCheck && {
    path: raw.healthCheck.path,
    failureThreshold: raw.healthCheck.failureThreshold ?? DEFAULTS.failureThreshold,
    interval: raw.healthCheck.interval ?? DEFAULTS.interval,
  };
  return {
    name: raw.name,
    description: raw.description,
    dir,
    file,
    port: raw.port,
    timeout: raw.timeout ?? DEFAULTS.timeout,
    privacy: raw.privacy ?? DEFAULTS.privacy,
    app: { dir: normalizeRelative(raw.app.dir ?? DEFAULTS.appDir), entry: normalizeRelative(raw.app.entry) },
    ...base,
    secretEnvironmentVariables: sortedRecord(raw.secretEnvironmentVariables),
    healthCheck,
    keepWarm: raw.keepWarm && {
      schedule: raw.keepWarm.schedule.trim().split(/\s+/).join(" "),
      timezone: raw.keepWarm.timezone ?? DEFAULTS.timezone,
      path: raw.keepWarm.path ?? healthCheck?.path ?? "/",
    },
    domain: raw.domain,
    imageSizeBudgetMB: raw.imageSizeBudgetMB,
    imagePackages: [...(raw.image?.packages ?? [])].sort(),
    stacks,
  };
}

export function toRepoConfig(raw: RawRepoConfig, file: string | undefined): RepoConfig {
  const region = raw.region ?? DEFAULTS.region;
  const registry = raw.registry ?? (raw.registryNamespace ? `rg.${region}.scw.cloud/${raw.registryNamespace}` : undefined);
  const apiSecret: ApiSecretSource = raw.apiSecret?.command
    ? { command: [...raw.apiSecret.command] }
    : { env: raw.apiSecret?.env ?? DEFAULTS.apiSecretEnv };
  return { region, registry, projectId: raw.projectId, stateBucket: raw.stateBucket, apiSecret, file };
}

/** "./a//b/" -> "a/b" (the schema already forbids absolute paths and ".."). */
function normalizeRelative(p: string): string {
  return p.split("/").filter((s) => s !== "" && s !== ".").join("/");
}

/** The effective settings of `stack`, or undefined when the service does not declare it. */
export function stackOf(service: Service, stack: string): StackSettings | undefined {
  return Object.hasOwn(service.stacks, stack) ? service.stacks[stack] : undefined;
}
