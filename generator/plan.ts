// `nixway plan`: what a deploy of one service and stack would create, found by running the
// generated Pulumi program (services/<svc>/infra/index.ts) under Pulumi's mocks in a child node
// process: no Pulumi CLI, no engine, no credentials, no network. Secrets show as "[secret]",
// values only the provider knows after a deploy (ids) as "[computed]".
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { didYouMean, InputError, OperationError, UsageError } from "./diagnostics.ts";
import { emitPulumi, IMAGE_CONFIG_KEY, IMAGE_DIGEST_CONFIG_KEY, infraDir, pulumiProjectName } from "./emit/pulumi.ts";
import { REGENERATE_COMMAND } from "./emit/types.ts";
import type { Repo, Service } from "./model.ts";
import { postureOf, type Posture } from "./posture.ts";
import { run } from "./proc.ts";

const RUNNER_FILE = fileURLToPath(new URL("./pulumi/mock-runner.ts", import.meta.url));

export const DEFAULT_PLAN_TIMEOUT_MS = 60_000;

export interface PlannedResource {
  /** Pulumi type token, e.g. scaleway:containers/container:Container. */
  type: string;
  /** Pulumi logical name. */
  name: string;
  /** Inputs with keys sorted; secrets "[secret]", provider-computed values "[computed]". */
  inputs: Record<string, unknown>;
}

/** Where the planned image reference came from. */
export type ImageSource = "flag" | "stack-config" | "placeholder";

export interface Plan {
  service: string;
  stack: string;
  image: string;
  imageDigest: string;
  imageSource: ImageSource;
  /** The planned stack's cold-start posture. */
  posture: Posture;
  /** Every declared stack's posture, by stack name (sorted). */
  postures: Record<string, Posture>;
  /** Cloud resources only (not the component), in a fixed order: namespace, container, domain, trigger. */
  resources: PlannedResource[];
}

export interface PlanOptions {
  /** `REF` or `REF@sha256:…`; default: the stack file's image, else a placeholder. */
  image?: string;
  timeoutMs?: number;
}

/** A resource as the mock runner reports it. */
export interface RegisteredResource extends PlannedResource {
  /** False for component resources, which exist only in Pulumi's state. */
  custom: boolean;
}

export interface MockRunRequest {
  /** Absolute path of the program. */
  program: string;
  project: string;
  stack: string;
  /** Fully qualified config (`project:key` -> value). */
  config: Record<string, string>;
  /** Which config keys are secrets. */
  secretKeys: string[];
}

/** Picks the stack: the given one (must be declared), else the only declared one. */
export function selectStack(service: Service, stack: string | undefined): string {
  const declared = Object.keys(service.stacks);
  if (stack === undefined) {
    if (declared.length === 1) return declared[0];
    throw new UsageError(`--stack is required: ${service.name} declares ${declared.join(", ")} (${service.file})`);
  }
  if (!declared.includes(stack)) {
    const guess = didYouMean(stack, declared);
    throw new UsageError(
      `${service.name} has no stack '${stack}'${guess ? `; did you mean '${guess}'?` : ""} (declared in ${service.file}: ${declared.join(", ")})`,
    );
  }
  return stack;
}

export async function planService(repo: Repo, service: Service, stack: string, options: PlanOptions = {}): Promise<Plan> {
  selectStack(service, stack);
  const program = checkProgramIsCurrent(repo, service);
  const project = pulumiProjectName(service);
  const { image, imageDigest, imageSource } = planImage(repo, service, stack, options.image);

  const config: Record<string, string> = {
    [`${project}:${IMAGE_CONFIG_KEY}`]: image,
    [`${project}:${IMAGE_DIGEST_CONFIG_KEY}`]: imageDigest,
  };
  const secretKeys: string[] = [];
  for (const key of new Set(Object.values(service.secretEnvironmentVariables))) {
    // Stand-ins: plan never sees a real secret, and prints none.
    config[`${project}:${key}`] = "[secret]";
    secretKeys.push(`${project}:${key}`);
  }
  const registered = await runProgramUnderMocks(
    { program, project, stack, config, secretKeys: secretKeys.sort() },
    options.timeoutMs ?? DEFAULT_PLAN_TIMEOUT_MS,
  );
  const resources = registered
    .filter((r) => r.custom)
    .map(({ type, name, inputs }) => ({ type, name, inputs }))
    .sort((a, b) => typeRank(a.type) - typeRank(b.type) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name));

  const postures: Record<string, Posture> = {};
  for (const name of Object.keys(service.stacks).sort()) postures[name] = postureOf(service.stacks[name], service.keepWarm);
  return { service: service.name, stack, image, imageDigest, imageSource, posture: postures[stack], postures, resources };
}

const TYPE_ORDER = [
  "scaleway:containers/namespace:Namespace",
  "scaleway:containers/container:Container",
  "scaleway:containers/domain:Domain",
  "scaleway:containers/trigger:Trigger",
];

function typeRank(type: string): number {
  const i = TYPE_ORDER.indexOf(type);
  return i < 0 ? TYPE_ORDER.length : i;
}

/**
 * The program on disk is what a deploy runs, so that is what plan runs; it must match what
 * `nixway generate` would write now. Returns its absolute path.
 */
function checkProgramIsCurrent(repo: Repo, service: Service): string {
  const stale: string[] = [];
  for (const file of emitPulumi(service, repo)) {
    if (file.createOnly) continue;
    const abs = path.join(repo.root, file.path);
    if (!existsSync(abs)) stale.push(`${file.path} does not exist`);
    else if (readFileSync(abs, "utf8") !== file.content) stale.push(`${file.path} is out of date with ${service.file}`);
  }
  if (stale.length) throw new InputError(`${stale.join("; ")}: run \`${REGENERATE_COMMAND}\``);
  return path.join(repo.root, infraDir(service), "index.ts");
}

function planImage(repo: Repo, service: Service, stack: string, flag: string | undefined): { image: string; imageDigest: string; imageSource: ImageSource } {
  if (flag !== undefined) {
    if (!flag || /[\s\p{Cc}]/u.test(flag)) throw new UsageError(`--image ${JSON.stringify(flag)}: expected an image reference HOST/NAMESPACE/NAME:TAG[@sha256:DIGEST]`);
    const at = flag.indexOf("@sha256:");
    if (at >= 0) return { image: flag.slice(0, at), imageDigest: flag.slice(at + 1), imageSource: "flag" };
    return { image: flag, imageDigest: `sha256:<manifest digest of ${flag}>`, imageSource: "flag" };
  }
  const fromStack = stackFileImage(repo, service, stack);
  if (fromStack) return { ...fromStack, imageSource: "stack-config" };
  return {
    image: `${repo.config.registry ?? "<registry>"}/${service.name}:<content tag of the next push>`,
    imageDigest: "sha256:<manifest digest of the next push>",
    imageSource: "placeholder",
  };
}

/** The image and digest the last deploy left in Pulumi.<stack>.yaml, when both are there in plain text. */
function stackFileImage(repo: Repo, service: Service, stack: string): { image: string; imageDigest: string } | undefined {
  const file = path.join(repo.root, infraDir(service), `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) return undefined;
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, "utf8"));
  } catch {
    return undefined; // The Pulumi CLI reports a broken stack file; plan just does not use it.
  }
  const config = (doc as { config?: unknown } | null)?.config;
  if (config === null || typeof config !== "object") return undefined;
  const project = pulumiProjectName(service);
  const image = (config as Record<string, unknown>)[`${project}:${IMAGE_CONFIG_KEY}`];
  const imageDigest = (config as Record<string, unknown>)[`${project}:${IMAGE_DIGEST_CONFIG_KEY}`];
  return typeof image === "string" && typeof imageDigest === "string" ? { image, imageDigest } : undefined;
}

/**
 * Runs a Pulumi program under mocks in a fresh `node --import tsx` process (the Pulumi runtime
 * and module cache are process-wide) with an environment holding no credentials, bounded by
 * `timeoutMs`. Returns every resource it registers, components included.
 */
export async function runProgramUnderMocks(request: MockRunRequest, timeoutMs = DEFAULT_PLAN_TIMEOUT_MS): Promise<RegisteredResource[]> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  for (const name of ["TMPDIR", "HOME", "LANG", "TZ"]) if (process.env[name] !== undefined) env[name] = process.env[name];
  const result = await run([process.execPath, "--import", import.meta.resolve("tsx"), RUNNER_FILE], {
    cwd: path.dirname(request.program),
    env,
    input: JSON.stringify(request),
    timeoutMs,
  });
  if (result.signal !== null) {
    throw new OperationError(`plan: the Pulumi program of ${request.project} did not finish within ${Math.round(timeoutMs / 1000)} s (stopped by ${result.signal})`);
  }
  const last = result.stdout.trim().split("\n").pop() ?? "";
  let reply: { resources?: RegisteredResource[]; error?: string };
  try {
    reply = JSON.parse(last) as typeof reply;
  } catch {
    const detail = result.stderr.trim().split("\n").slice(-5).join("\n");
    throw new OperationError(`plan: the mock run of ${request.program} exited ${result.code} without a result${detail ? `:\n${detail}` : ""}`);
  }
  if (reply.error !== undefined || result.code !== 0 || !reply.resources) {
    throw new OperationError(`plan: the Pulumi program ${path.relative(process.cwd(), request.program) || request.program} failed: ${reply.error ?? `exit ${result.code}`}`);
  }
  return reply.resources;
}

/** The `--json` document: {"service","stack","image","posture","postures","resources"}. */
export function planJson(plan: Plan): object {
  return {
    service: plan.service,
    stack: plan.stack,
    image: plan.image,
    imageDigest: plan.imageDigest,
    imageSource: plan.imageSource,
    posture: plan.posture,
    postures: plan.postures,
    resources: plan.resources,
  };
}

const IMAGE_NOTES: Record<ImageSource, string> = {
  flag: "(from --image)",
  "stack-config": "(the stack's config, from the last deploy)",
  placeholder: "(not pushed yet: `nixway deploy` pushes the image and plans its content-addressed tag)",
};

/** The human-readable plan. */
export function formatPlan(plan: Plan): string {
  const lines = [
    `Plan for ${plan.service}, stack ${plan.stack} (offline, under Pulumi mocks: no credentials, network or Pulumi CLI)`,
    `image:   ${plan.image} ${IMAGE_NOTES[plan.imageSource]}`,
    `digest:  ${plan.imageDigest}`,
    `posture: ${plan.posture.summary}`,
  ];
  const others = Object.entries(plan.postures).filter(([name]) => name !== plan.stack);
  for (const [name, posture] of others) lines.push(`  (stack ${name}: ${posture.summary})`);
  lines.push("", `${plan.resources.length} resource${plan.resources.length === 1 ? "" : "s"} would exist:`);
  for (const r of plan.resources) {
    lines.push(`+ ${r.type} ${r.name}`);
    for (const [key, value] of Object.entries(r.inputs)) lines.push(...formatValue(key, value, "    "));
  }
  return lines.join("\n") + "\n";
}

function formatValue(key: string, value: unknown, indent: string): string[] {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (!entries.length) return [`${indent}${key}: {}`];
    return [`${indent}${key}:`, ...entries.flatMap(([k, v]) => formatValue(k, v, indent + "  "))];
  }
  if (value === "[secret]" || value === "[computed]") return [`${indent}${key}: ${value}`];
  return [`${indent}${key}: ${JSON.stringify(value)}`];
}
