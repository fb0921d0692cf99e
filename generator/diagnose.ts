// `nixway diagnose`: checks every cause of a failed or unhealthy deploy that the runbook lists and gives
// each a verdict and a fix. Checks that need something not at hand (the image archive, the registry, a
// local smoke run) say so instead of guessing: `ok` is true (checked, fine), false (this is a cause),
// or null (could not be checked here, or does not apply; `detail` says which).
//
// The evidence comes through `DiagnoseProbes` so each source can be swapped in tests: the registry
// (helper D's library), facts read from the image archive, a local smoke run (helper F's), DNS, and
// an HTTP request to the health path.
import dns from "node:dns/promises";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { openArchive, type OpenedArchive } from "./image/archive.ts";
import { imagePathParts, readDockerArchive, readTar } from "./image/unpack.ts";
import { ImageNotFoundError, resolveTagDigest, inspectImage } from "./registry/inspect.ts";
import type { RegistryOptions } from "./registry/session.ts";
import type { Service } from "./model.ts";
import type { ContainerInfo, DomainInfo, NamespaceInfo, ScalewayApi } from "./scaleway/api.ts";
import { isTransientStatus } from "./scaleway/api.ts";
import { smokeRun, type SmokeOptions } from "./smoke.ts";
import { findDeployed, locateContainerById, type Located } from "./status.ts";

export const CAUSE_IDS = [
  "image-not-found",
  "port-mismatch",
  "entrypoint-crash",
  "architecture",
  "memory-limit",
  "missing-env",
  "stuck-creating",
  "domain-dns",
  "health-check",
] as const;
export type RunbookCauseId = (typeof CAUSE_IDS)[number];
/** Besides the runbook's causes: the platform's own failure (retry), and a message nixway cannot place. */
export type CauseId = RunbookCauseId | "platform-error" | "error-message";

export interface Cause {
  id: CauseId;
  /** true: checked and fine; false: this is (a) cause; null: not checked or not applicable. */
  ok: boolean | null;
  detail: string;
  /** What to do; set when ok is false. */
  fix: string | null;
}

export interface Diagnosis {
  service: string;
  stack: string;
  status: string | null;
  errorMessage: string | null;
  causes: Cause[];
}

/** What nixway can learn about the image, from the archive (with its files) or the registry (config only). */
export interface ImageFacts {
  /** e.g. "archive ./result" or "registry rg.fr-par.scw.cloud/ns/hello:c-…". */
  source: string;
  architecture: string | undefined;
  os: string | undefined;
  /** e.g. ["8080/tcp"]. */
  exposedPorts: string[];
  entrypoint: string[];
  cmd: string[];
  /** "NAME=value". */
  env: string[];
  /** Whether an absolute path exists in the image's file system (symlinks followed); only when the layers were read. */
  hasPath?: (absolutePath: string) => boolean;
}

/** A local run of the app or image (helper F's smoke), reduced to what diagnosis needs. */
export interface SmokeOutcome {
  ok: boolean;
  firstResponseMs: number | null;
  peakRssMB: number | null;
  /** The runbook cause the smoke run named when it failed. */
  cause: "port-mismatch" | "entrypoint-crash" | "memory-limit" | "health-check" | null;
  /** Its own explanation, shown as evidence. */
  detail: string;
}

export interface DiagnoseProbes {
  /** The manifest digest the registry holds for a reference, undefined when it holds none. */
  registryDigest?: (ref: string) => Promise<string | undefined>;
  imageFacts?: () => Promise<ImageFacts | undefined>;
  smoke?: () => Promise<SmokeOutcome | undefined>;
  /** CNAME targets of a host name; [] or a rejection when there is none. */
  resolveCname: (host: string) => Promise<string[]>;
  fetch: typeof fetch;
  /** Replaces https://<endpoint> for the health request (tests point it at a local server). */
  healthBaseUrl?: string;
  now: () => Date;
}

export interface DiagnoseContext {
  service: Service;
  stack: string;
  /** Absolute repository root (for the app sources). */
  root: string;
  /** The registry prefix images are pushed under (repo config), when known. */
  registry: string | undefined;
  /** The image archive at hand, as the user named it (for fix commands). */
  archive: string | undefined;
  container: ContainerInfo | undefined;
  namespace: NamespaceInfo | undefined;
  domains: DomainInfo[] | undefined;
}

/** Past this, `creating`/`pending` is no longer the runbook's normal 2-3 minutes. */
export const STUCK_AFTER_MS = 5 * 60_000;
const HEALTH_TIMEOUT_MS = 10_000;

/* ------------------------------------------------------------------ the API's error messages */

export const PLATFORM_INTERNAL_ERROR =
  "An internal error occurred while deploying the Serverless Container. Please retry or contact support if the problem persists.";

/**
 * The cause an API error_message points at. Known wordings first (the recorded "Image was not found in
 * container registry." and the platform's internal error), then what a message mentions.
 */
export function classifyErrorMessage(message: string): RunbookCauseId | "platform-error" | undefined {
  if (/image was not found|not found in (the )?container registry|manifest unknown|repository does not exist/i.test(message)) return "image-not-found";
  if (/internal error occurred|please retry/i.test(message)) return "platform-error";
  if (/exec format error|architecture|arm64|aarch64/i.test(message)) return "architecture";
  if (/\bport\b/i.test(message)) return "port-mismatch";
  if (/out of memory|\boom\b|memory limit|oomkilled/i.test(message)) return "memory-limit";
  if (/health|probe|liveness|readiness|startup/i.test(message)) return "health-check";
  if (/entrypoint|executable|exec |no such file|permission denied|exited|crash|command not found/i.test(message)) return "entrypoint-crash";
  return undefined;
}

/* ------------------------------------------------------------------ the app's sources */

const SOURCE_EXT = /\.(?:[cm]?[jt]sx?)$/;

export interface AppScan {
  /** Env vars read without a fallback (`process.env.X`, `Bun.env.X`, `process.env["X"]`, `import.meta.env.X`). */
  required: Map<string, string>;
  /** Read with `??` or `||` right after: the app copes without them. */
  optional: Map<string, string>;
  /** Files (relative to the repo root) whose first line is `#!/usr/bin/env bun`. */
  envBunShebangs: string[];
}

/** Reads the app's source files for the env vars it reads and `#!/usr/bin/env bun` shebangs. */
export function scanApp(root: string, service: Service): AppScan {
  const appDir = path.join(root, service.dir, service.app.dir);
  const required = new Map<string, string>();
  const optional = new Map<string, string>();
  const envBunShebangs: string[] = [];
  const read = /\b(?:process\.env|Bun\.env|import\.meta\.env)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*["'`]([A-Za-z_][A-Za-z0-9_]*)["'`]\s*\])/g;
  const files: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (SOURCE_EXT.test(e.name) || isExecutable(p))) files.push(p);
    }
  };
  walk(appDir);
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const rel = path.relative(root, file).split(path.sep).join("/");
    if (/^#!\s*\/usr\/bin\/env\s+(?:-S\s+)?bun\b/.test(text)) envBunShebangs.push(rel);
    if (!SOURCE_EXT.test(file)) continue;
    for (const m of text.matchAll(read)) {
      const name = m[1] ?? m[2];
      const after = text.slice(m.index! + m[0].length);
      const line = text.slice(0, m.index).split("\n").length;
      const where = `${rel}:${line}`;
      if (/^\s*(?:\?\?|\|\|)/.test(after)) {
        if (!optional.has(name)) optional.set(name, where);
      } else if (!required.has(name)) required.set(name, where);
    }
  }
  for (const name of required.keys()) optional.delete(name);
  return { required, optional, envBunShebangs };
}

function isExecutable(file: string): boolean {
  try {
    return (statSync(file).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/* ------------------------------------------------------------------ the checks */

interface Evidence {
  ctx: DiagnoseContext;
  probes: DiagnoseProbes;
  mapped: RunbookCauseId | "platform-error" | undefined;
  image: ImageFacts | undefined;
  imageError: string | undefined;
  smoke: SmokeOutcome | undefined;
  smokeError: string | undefined;
  app: AppScan;
}

const cause = (id: CauseId, ok: boolean | null, detail: string, fix: string | null = null): Cause => ({ id, ok, detail, fix: ok === false ? fix : null });

function cmd(ctx: DiagnoseContext, rest: string): string {
  return `npx nixway ${rest.replaceAll("SERVICE", ctx.service.name).replaceAll("STACK", ctx.stack)}`;
}

function deployCommand(ctx: DiagnoseContext): string {
  return cmd(ctx, `deploy SERVICE --stack STACK --archive ${ctx.archive ?? "PATH"}`);
}

function tagOf(ref: string): string | undefined {
  const at = ref.indexOf("@");
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  return colon > slash ? name.slice(colon + 1) : undefined;
}

async function checkImageNotFound(ev: Evidence): Promise<Cause> {
  const { ctx, probes } = ev;
  const c = ctx.container;
  const messageSaysSo = ev.mapped === "image-not-found";
  const tag = c ? tagOf(c.image) : undefined;
  const repush =
    cmd(ctx, `push SERVICE --archive ${ctx.archive ?? "PATH"}${tag && !/^c-[0-9a-f]{20}$/.test(tag) ? ` --tag ${tag}` : ""}`) +
    `, then ${deployCommand(ctx)} (or: nix run .#deploy-${ctx.service.name} -- --stack ${ctx.stack})`;
  if (!c) return cause("image-not-found", null, "no container to compare: the service is not deployed on this stack");
  const ours = ctx.registry !== undefined && c.image.startsWith(`${ctx.registry}/`);
  if (!probes.registryDigest || !ours) {
    const why = !ours
      ? `the container runs ${c.image}, which is not under nixway's registry ${ctx.registry ?? "(none configured)"}`
      : "the registry was not consulted";
    if (messageSaysSo) return cause("image-not-found", false, `the platform says: "${c.errorMessage}" (${why})`, repush);
    return cause("image-not-found", null, `not checked: ${why}`);
  }
  let digest: string | undefined;
  try {
    digest = await probes.registryDigest(c.image);
  } catch (err) {
    const why = `the registry could not be asked: ${(err as Error).message}`;
    if (messageSaysSo) return cause("image-not-found", false, `the platform says: "${c.errorMessage}"; ${why}`, repush);
    return cause("image-not-found", null, why);
  }
  if (digest === undefined) {
    return cause("image-not-found", false, `the container runs ${c.image}, and the registry holds no such image${messageSaysSo ? ` (the platform says: "${c.errorMessage}")` : ""}`, repush);
  }
  if (messageSaysSo) {
    // Pushed since the platform looked: deploying again is enough.
    return cause(
      "image-not-found",
      false,
      `the platform says: "${c.errorMessage}", but the registry now holds ${c.image} (${digest}): it was pushed after the deploy tried to pull it`,
      `deploy again so the platform pulls it: ${cmd(ctx, "deploy SERVICE --stack STACK --archive " + (ctx.archive ?? "PATH") + " --redeploy")}`,
    );
  }
  return cause("image-not-found", true, `the registry holds ${c.image} (${digest})`);
}

function checkPort(ev: Evidence): Cause {
  const { ctx, image, smoke } = ev;
  const port = ctx.service.port;
  const c = ctx.container;
  const fixYaml = `make the app listen on $PORT (${port}) at 0.0.0.0, or set port: in ${ctx.service.file} to the port it listens on; then ${deployCommand(ctx)}`;
  // Every piece of evidence is reported: a wrong ExposedPorts and an app on another port often go together.
  const problems: { detail: string; fix: string }[] = [];
  const seen: string[] = [];
  if (c && c.port !== port) {
    problems.push({ detail: `the container is configured for port ${c.port}, ${ctx.service.file} says ${port}: the last deploy did not apply`, fix: `deploy again: ${deployCommand(ctx)}` });
  } else if (c) seen.push(`container port ${c.port}`);
  if (image) {
    const tcp = image.exposedPorts.map((p) => p.replace(/\/tcp$/, ""));
    if (image.exposedPorts.length && !tcp.includes(String(port))) {
      problems.push({
        detail: `the image (${image.source}) exposes ${image.exposedPorts.join(", ")}, the service is configured for ${port}`,
        fix: `rebuild the image from the generated Nix (npx nixway generate; nix build .#${ctx.service.name}-image), ${fixYaml}`,
      });
    } else seen.push(image.exposedPorts.length ? `image exposes ${image.exposedPorts.join(", ")}` : "image exposes no port");
  }
  if (smoke?.cause === "port-mismatch") problems.push({ detail: `local smoke run: ${smoke.detail}`, fix: fixYaml });
  else if (smoke) seen.push(smoke.ok ? `the app answered on ${port} in a local smoke run` : "the local smoke run failed for another reason");
  if (ev.mapped === "port-mismatch") problems.push({ detail: `the platform says: "${c?.errorMessage}"`, fix: fixYaml });
  if (problems.length) return cause("port-mismatch", false, problems.map((p) => p.detail).join("; "), problems[0].fix);
  if (!smoke) seen.push(`which port the app listens on was not checked (${ev.smokeError ?? "no local smoke run"})`);
  return cause("port-mismatch", c || image || smoke ? true : null, `port ${port}: ${seen.join("; ")}`);
}

function checkEntrypoint(ev: Evidence): Cause {
  const { ctx, image, smoke, app } = ev;
  const entryRel = `${ctx.service.dir}/${ctx.service.app.dir}/${ctx.service.app.entry}`;
  const explicitCmd = `regenerate and rebuild the image so its Cmd runs bun by absolute path (Cmd = [ "\${pkgs.bun}/bin/bun" "\${appFiles}/app/${ctx.service.app.entry}" ]): npx nixway generate, nix build .#${ctx.service.name}-image, then ${deployCommand(ctx)}`;
  const notes: string[] = [];
  if (image) {
    const argv = [...image.entrypoint, ...image.cmd];
    if (argv.length === 0) return cause("entrypoint-crash", false, `the image (${image.source}) has neither Entrypoint nor Cmd: nothing starts`, explicitCmd);
    const bin = argv[0];
    if (/(^|\/)env$/.test(bin)) {
      const missing = image.hasPath && !image.hasPath(bin) ? ` and the image has no ${bin}` : "";
      return cause("entrypoint-crash", false, `the image's command starts with ${argv.slice(0, 2).join(" ")}${missing}: the runbook's "bun: not found" crash`, explicitCmd);
    }
    if (image.hasPath) {
      const found = bin.startsWith("/") ? image.hasPath(bin) : pathDirs(image.env).some((d) => image.hasPath!(`${d}/${bin}`));
      if (!found) return cause("entrypoint-crash", false, `the image's command ${JSON.stringify(argv)} runs ${bin}, which is not in the image${bin.startsWith("/") ? "" : " on its PATH"}`, explicitCmd);
      notes.push(`${bin} is in the image`);
    } else notes.push(`command ${JSON.stringify(argv)} (files not checked: only the image config was read)`);
    const entryShebang = app.envBunShebangs.find((f) => f === entryRel);
    if (entryShebang && path.basename(bin) !== "bun" && bin.endsWith(`/${ctx.service.app.entry}`)) {
      return cause("entrypoint-crash", false, `the image runs ${entryShebang} directly, and its first line is #!/usr/bin/env bun`, explicitCmd);
    }
  }
  if (smoke?.cause === "entrypoint-crash") return cause("entrypoint-crash", false, `local smoke run: ${smoke.detail}`, `fix the crash the local run shows (npx nixway smoke ${ctx.service.name}${ctx.archive ? ` --archive ${ctx.archive}` : ""}), then ${deployCommand(ctx)}`);
  if (ev.mapped === "entrypoint-crash") return cause("entrypoint-crash", false, `the platform says: "${ctx.container?.errorMessage}"`, explicitCmd);
  if (app.envBunShebangs.length) {
    notes.push(`${app.envBunShebangs.join(", ")} start${app.envBunShebangs.length === 1 ? "s" : ""} with #!/usr/bin/env bun (harmless while the Cmd runs bun explicitly)`);
  }
  if (smoke?.ok) notes.push("the app started in a local smoke run");
  if (!image && !smoke) return cause("entrypoint-crash", null, `not checked: ${ev.imageError ?? "no image at hand (pass --archive PATH)"}${notes.length ? `; ${notes.join("; ")}` : ""}`);
  return cause("entrypoint-crash", true, notes.join("; "));
}

function pathDirs(env: string[]): string[] {
  const p = env.find((e) => e.startsWith("PATH="));
  return (p ? p.slice(5) : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":").filter((d) => d.startsWith("/"));
}

function checkArchitecture(ev: Evidence): Cause {
  const { ctx, image } = ev;
  const fix = `build the image for x86_64-linux (nix build .#packages.x86_64-linux.${ctx.service.name}-image; on macOS this needs an x86_64-linux builder), push it and deploy: ${deployCommand(ctx)}`;
  if (image?.architecture && image.architecture !== "amd64") {
    return cause("architecture", false, `the image (${image.source}) is built for ${image.os ?? "?"}/${image.architecture}; Scaleway runs amd64 only`, fix);
  }
  if (ev.mapped === "architecture") return cause("architecture", false, `the platform says: "${ctx.container?.errorMessage}"`, fix);
  if (image?.architecture) return cause("architecture", true, `the image is ${image.os ?? "linux"}/${image.architecture}`);
  return cause("architecture", null, `not checked: ${ev.imageError ?? "no image at hand (pass --archive PATH)"}`);
}

function checkMemory(ev: Evidence): Cause {
  const { ctx, smoke } = ev;
  const limit = ctx.container?.memoryLimitMB ?? ctx.service.stacks[ctx.stack]?.memoryLimit ?? ctx.service.memoryLimit;
  const fix = `raise memoryLimit for this stack (stacks.${ctx.stack}.memoryLimit in ${ctx.service.file}, now ${limit} MB), or lower the app's startup memory; then ${deployCommand(ctx)}`;
  if (smoke?.cause === "memory-limit") return cause("memory-limit", false, `local smoke run: ${smoke.detail}`, fix);
  if (smoke?.peakRssMB != null && smoke.peakRssMB >= limit) {
    return cause("memory-limit", false, `the app peaked at ${smoke.peakRssMB} MB in a local smoke run; the limit is ${limit} MB`, fix);
  }
  if (ev.mapped === "memory-limit") return cause("memory-limit", false, `the platform says: "${ctx.container?.errorMessage}"`, fix);
  if (smoke?.peakRssMB != null) return cause("memory-limit", true, `the app peaked at ${smoke.peakRssMB} MB in a local smoke run; the limit is ${limit} MB`);
  return cause("memory-limit", null, `not checked: startup memory needs a local smoke run (${ev.smokeError ?? "none was run"}); the limit is ${limit} MB`);
}

/** Set by the platform itself, not by the service: https://www.scaleway.com/en/docs/serverless-containers/ (PORT, SCW_*). */
const PLATFORM_ENV = (name: string) => name === "PORT" || name.startsWith("SCW_");

function checkEnv(ev: Evidence): Cause {
  const { ctx, app, image } = ev;
  const settings = ctx.service.stacks[ctx.stack];
  const set = new Set<string>([
    ...Object.keys(settings?.environmentVariables ?? ctx.service.environmentVariables),
    ...Object.keys(ctx.service.secretEnvironmentVariables),
    ...Object.keys(ctx.container?.environmentVariables ?? {}),
    ...(ctx.container?.secretEnvironmentVariableNames ?? []),
    ...Object.keys(ctx.namespace?.environmentVariables ?? {}),
    ...(ctx.namespace?.secretEnvironmentVariableNames ?? []),
    ...(image?.env ?? []).map((e) => e.split("=", 1)[0]),
  ]);
  const missing = [...app.required].filter(([name]) => !set.has(name) && !PLATFORM_ENV(name));
  const optionalMissing = [...app.optional].filter(([name]) => !set.has(name) && !PLATFORM_ENV(name));
  const read = app.required.size + app.optional.size;
  if (missing.length) {
    const names = missing.map(([n]) => n);
    return cause(
      "missing-env",
      false,
      `the app reads ${missing.map(([n, where]) => `${n} (${where})`).join(", ")} without a fallback, and ${names.length === 1 ? "it is" : "they are"} not set for stack ${ctx.stack}`,
      `add ${names.join(", ")} to environmentVariables in ${ctx.service.file} (stacks.${ctx.stack}.environmentVariables for this stack only), ` +
        `or for secrets to secretEnvironmentVariables and set them with 'pulumi config set --secret KEY --stack ${ctx.stack}' in ${ctx.service.dir}/infra; then ${deployCommand(ctx)}`,
    );
  }
  const extra = optionalMissing.length ? `; read with a fallback and not set: ${optionalMissing.map(([n]) => n).join(", ")}` : "";
  if (read === 0) return cause("missing-env", true, "the app reads no environment variables");
  return cause("missing-env", true, `every variable the app reads without a fallback is set${extra}`);
}

function checkStuck(ev: Evidence): Cause {
  const c = ev.ctx.container;
  if (!c) return cause("stuck-creating", null, "not deployed on this stack");
  if (!isTransientStatus(c.status)) return cause("stuck-creating", true, `status is ${c.status}`);
  const since = c.updatedAt ? ev.probes.now().getTime() - c.updatedAt.getTime() : undefined;
  const mins = since === undefined ? "an unknown time" : `${Math.floor(since / 60_000)} min ${Math.round((since % 60_000) / 1000)} s`;
  if (since !== undefined && since > STUCK_AFTER_MS) {
    return cause(
      "stuck-creating",
      false,
      `the container has been '${c.status}' for ${mins} (since ${c.updatedAt!.toISOString()}); 2-3 minutes is normal`,
      `check https://status.scaleway.com for ${c.region}; if the region is fine, deploy again (${cmd(ev.ctx, `deploy SERVICE --stack STACK --archive ${ev.ctx.archive ?? "PATH"} --redeploy`)}), and if it stays stuck, delete and recreate it through Pulumi`,
    );
  }
  return cause("stuck-creating", true, `'${c.status}' for ${mins}: 2-3 minutes is normal, wait (nixway status ${ev.ctx.service.name} --stack ${ev.ctx.stack})`);
}

async function checkDomain(ev: Evidence): Promise<Cause> {
  const { ctx, probes } = ev;
  const domain = ctx.service.domain;
  if (!domain) return cause("domain-dns", null, "no custom domain configured");
  const c = ctx.container;
  if (!c?.endpoint) return cause("domain-dns", null, `not checked: the container has no endpoint yet`);
  const target = c.endpoint.toLowerCase().replace(/\.$/, "");
  const fix = `create a DNS record '${domain}. CNAME ${target}.' at the domain's DNS provider; propagation can take a few minutes (check with: dig +short CNAME ${domain})`;
  const bound = ctx.domains?.find((d) => d.hostname === domain);
  const platform = bound ? `; Scaleway domain binding: ${bound.status}${bound.errorMessage ? ` (${bound.errorMessage})` : ""}` : ctx.domains ? "; no Scaleway domain binding for it yet" : "";
  let answers: string[];
  try {
    answers = (await probes.resolveCname(domain)).map((a) => a.toLowerCase().replace(/\.$/, ""));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return cause("domain-dns", false, `${domain} has no CNAME record (${code})${platform}`, fix);
  }
  if (!answers.includes(target)) {
    return cause("domain-dns", false, `${domain} is a CNAME for ${answers.join(", ") || "nothing"}, not the container's endpoint ${target}${platform}`, fix);
  }
  if (bound && bound.status === "error") {
    return cause("domain-dns", false, `${domain} points at ${target}${platform}`, `deploy again so the domain binding is retried: ${deployCommand(ctx)}`);
  }
  return cause("domain-dns", true, `${domain} is a CNAME for ${target}${platform}`);
}

/** GET https://<endpoint><path>; the runbook's "ready but 502" shows here. */
export async function probeHealth(
  doFetch: typeof fetch,
  url: string,
  timeoutMs = HEALTH_TIMEOUT_MS,
): Promise<{ status: number; ms: number } | { error: string; ms: number }> {
  const start = performance.now();
  try {
    const res = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status, ms: Math.round(performance.now() - start) };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { error: e.name === "TimeoutError" ? `no answer within ${timeoutMs / 1000} s` : (e.cause?.code ?? e.message), ms: Math.round(performance.now() - start) };
  }
}

export function healthUrl(ctx: { service: Service; container: ContainerInfo }, base: string | undefined): string {
  const p = ctx.service.healthCheck?.path ?? ctx.container.healthCheckPath ?? "/";
  return `${(base ?? `https://${ctx.container.endpoint}`).replace(/\/+$/, "")}${p.startsWith("/") ? p : `/${p}`}`;
}

async function checkHealth(ev: Evidence): Promise<Cause> {
  const { ctx, probes } = ev;
  const c = ctx.container;
  if (!c) return cause("health-check", null, "not deployed on this stack");
  const fix =
    `the app must answer ${ctx.service.healthCheck?.path ?? "/"} with 2xx on $PORT (${ctx.service.port}) at 0.0.0.0: check the port configuration, ` +
    `the health route and the env vars it needs (see the other causes), run it locally (npx nixway smoke ${ctx.service.name}${ctx.archive ? ` --archive ${ctx.archive}` : ""}), ` +
    `and read the app's logs in the Scaleway console (Cockpit); then ${deployCommand(ctx)}`;
  if (c.status !== "ready") {
    if (ev.mapped === "health-check") return cause("health-check", false, `the platform says: "${c.errorMessage}"`, fix);
    if (ev.smoke?.cause === "health-check") return cause("health-check", false, `local smoke run: ${ev.smoke.detail}`, fix);
    return cause("health-check", null, `not checked: the container is ${c.status}, not ready`);
  }
  if (!c.endpoint && !probes.healthBaseUrl) return cause("health-check", null, "not checked: the container has no endpoint");
  const url = healthUrl({ service: ctx.service, container: c }, probes.healthBaseUrl);
  const r = await probeHealth(probes.fetch, url);
  if ("status" in r && r.status >= 200 && r.status < 300) return cause("health-check", true, `GET ${url} answered ${r.status} in ${r.ms} ms`);
  if ("status" in r && (r.status === 401 || r.status === 403) && c.privacy === "private") {
    return cause("health-check", null, `GET ${url} answered ${r.status}: the container is private, so an unauthenticated request cannot tell`);
  }
  const what = "status" in r ? `answered ${r.status}` : `failed: ${r.error}`;
  return cause("health-check", false, `the container is ready but GET ${url} ${what}${"status" in r && r.status === 502 ? " (the runbook's 'ready but 502': the app is not serving on the configured port)" : ""}`, fix);
}

/* ------------------------------------------------------------------ the whole diagnosis */

export async function diagnose(ctx: DiagnoseContext, probes: DiagnoseProbes): Promise<Diagnosis> {
  const c = ctx.container;
  const message = c?.errorMessage ?? (ctx.namespace?.status === "error" ? ctx.namespace.errorMessage : undefined);
  const mapped = message ? classifyErrorMessage(message) : undefined;
  const ev: Evidence = { ctx, probes, mapped, image: undefined, imageError: undefined, smoke: undefined, smokeError: undefined, app: scanApp(ctx.root, ctx.service) };
  if (probes.imageFacts) {
    try {
      ev.image = await probes.imageFacts();
    } catch (err) {
      ev.imageError = `the image could not be read: ${(err as Error).message}`;
    }
  }
  if (probes.smoke) {
    try {
      ev.smoke = await probes.smoke();
    } catch (err) {
      ev.smokeError = `the local smoke run could not run: ${(err as Error).message}`;
    }
  }
  const causes: Cause[] = [];
  if (message && mapped === "platform-error") {
    causes.push(
      cause(
        "platform-error",
        false,
        `the platform says: "${message}"`,
        `this is on Scaleway's side: deploy again (${cmd(ctx, `deploy SERVICE --stack STACK --archive ${ctx.archive ?? "PATH"} --redeploy`)}); if it keeps failing, check https://status.scaleway.com and contact Scaleway support with the container id ${c?.id ?? "?"}`,
      ),
    );
  } else if (message && mapped === undefined) {
    causes.push(cause("error-message", false, message, `nixway does not know this message; it is shown verbatim. Check the container's logs in the Scaleway console (container ${c?.id ?? "?"})`));
  }
  causes.push(
    await checkImageNotFound(ev),
    checkPort(ev),
    checkEntrypoint(ev),
    checkArchitecture(ev),
    checkMemory(ev),
    checkEnv(ev),
    checkStuck(ev),
    await checkDomain(ev),
    await checkHealth(ev),
  );
  return { service: ctx.service.name, stack: ctx.stack, status: c?.status ?? null, errorMessage: message ?? null, causes };
}

export function failing(d: Diagnosis): Cause[] {
  return d.causes.filter((c) => c.ok === false);
}

export function formatDiagnosis(d: Diagnosis): string {
  const lines = [
    `${d.service} on stack ${d.stack}: ${d.status ?? "not deployed"}${d.errorMessage ? `: "${d.errorMessage}"` : ""}`,
  ];
  for (const c of d.causes) {
    const mark = c.ok === false ? "FAIL" : c.ok ? "ok  " : "--  ";
    lines.push(`  ${mark} ${c.id.padEnd(17)} ${c.detail}`);
    if (c.fix) lines.push(`       ${"".padEnd(17)} fix: ${c.fix}`);
  }
  const n = failing(d).length;
  lines.push(n ? `${n} cause${n === 1 ? "" : "s"} found` : "no cause found");
  return lines.join("\n") + "\n";
}

/* ------------------------------------------------------------------ real evidence */

/**
 * Facts about the image in a docker-archive: its config (architecture, ExposedPorts, Entrypoint, Cmd,
 * Env) and, from every layer's file list (whiteouts applied, symlinks followed), whether a path exists.
 * Nothing is unpacked to disk.
 */
export async function archiveImageFacts(file: string): Promise<ImageFacts> {
  // openArchive (helper D) also takes a .tar.gz or an image stream script, as `nix build` gives them.
  const opened = await openArchive(file, { label: `--archive ${file}` });
  const entries = new Map<string, { type: string; link: string }>();
  try {
    const { index, layers } = await readDockerArchive(opened.archive.file);
    for (const layer of layers) {
      const thisLayer = new Set<string>();
      await readTar(await index.stream(layer), async (h) => {
        const parts = imagePathParts(h.name);
        if (!parts.length) return;
        const name = parts.at(-1)!;
        const dir = parts.slice(0, -1).join("/");
        if (name === ".wh..wh..opq") {
          for (const k of [...entries.keys()]) if (k.startsWith(`${dir}/`) && !thisLayer.has(k)) entries.delete(k);
          return;
        }
        if (name.startsWith(".wh.")) {
          const gone = dir ? `${dir}/${name.slice(4)}` : name.slice(4);
          for (const k of [...entries.keys()]) if (k === gone || k.startsWith(`${gone}/`)) entries.delete(k);
          return;
        }
        const p = parts.join("/");
        entries.set(p, { type: h.type, link: h.linkname });
        thisLayer.add(p);
      });
    }
  } finally {
    opened.dispose();
  }
  const { architecture, os, config } = opened.archive;
  const c = config.config ?? {};
  const dirs = new Set<string>();
  for (const k of entries.keys()) for (let i = k.indexOf("/"); i > 0; i = k.indexOf("/", i + 1)) dirs.add(k.slice(0, i));
  /** Follows symlinks like a chroot would; true when the path names a file (or a directory) the layers hold. */
  const hasPath = (absolutePath: string): boolean => {
    let resolved: string[] = [];
    const queue = imagePathParts(absolutePath);
    for (let hops = 0; queue.length; ) {
      const c = queue.shift()!;
      const p = [...resolved, c].join("/");
      const e = entries.get(p);
      if (e?.type === "2") {
        if (++hops > 40) return false;
        if (e.link.startsWith("/")) resolved = [];
        queue.unshift(...imagePathParts(e.link));
        continue;
      }
      if (!e && !dirs.has(p)) return false;
      resolved.push(c);
    }
    return true;
  };
  return {
    source: `archive ${file}`,
    architecture: architecture || undefined,
    os: os || undefined,
    exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env: c.Env ?? [],
    hasPath,
  };
}

/** A local smoke run (helper F's smokeRun) reduced to the evidence diagnosis uses. */
export async function smokeOutcome(opts: SmokeOptions): Promise<SmokeOutcome> {
  const r = await smokeRun(opts);
  const cause = r.cause === "port-mismatch" || r.cause === "entrypoint-crash" ? r.cause : r.cause === "memory-limit-exceeded" ? "memory-limit" : r.cause === "health-check-failed" ? "health-check" : null;
  const said = r.detail ?? r.cause ?? "failed";
  const listening = r.listening.filter((l) => !said.includes(l));
  const detail = r.ok ? `answered ${r.healthPath} with ${r.healthStatus} after ${r.firstResponseMs} ms (${r.mode} run)` : `${said}${listening.length ? ` (listening on ${listening.join(", ")})` : ""}`;
  return { ok: r.ok, firstResponseMs: r.firstResponseMs, peakRssMB: r.peakRssMB, cause, detail };
}

export interface RunDiagnosisOptions {
  /** Needed unless `located` is given (and for the custom domain's binding). */
  api?: ScalewayApi;
  service: Service;
  stack: string;
  root: string;
  registry: string | undefined;
  archive?: string;
  /** Already located (deploy knows its container); else looked up by name, or `containerId`. */
  located?: Partial<Located>;
  containerId?: string;
  /** Run the app (or the archive's image) locally for port, crash and memory evidence. Default true. */
  smoke?: boolean;
  /** How long the local run may take to answer (the smoke check's default: 30 s). */
  smokeTimeoutMs?: number;
  /** How to reach the registry (helper D's options: registry prefix, secret, TLS); without it the registry is not consulted. */
  registryOptions?: RegistryOptions;
  /** Replace any probe (tests). */
  probes?: Partial<DiagnoseProbes>;
}

/** `<registry>/<service>:<tag>` (or `@sha256:…`) -> service and tag, when the reference is under `registry`. */
export function splitImageRef(ref: string, registry: string): { service: string; tag: string } | undefined {
  if (!ref.startsWith(`${registry}/`)) return undefined;
  const m = /^([a-z0-9][a-z0-9._-]*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(sha256:[0-9a-f]{64}))$/.exec(ref.slice(registry.length + 1));
  if (!m) return undefined;
  return { service: m[1], tag: m[2] ?? m[3] };
}

/** Probes backed by the registry (helper D's library). */
export function registryProbes(opts: RegistryOptions, container: ContainerInfo | undefined): Pick<DiagnoseProbes, "registryDigest" | "imageFacts"> {
  return {
    registryDigest: async (ref) => {
      const parts = splitImageRef(ref, opts.registry);
      if (!parts) throw new Error(`${ref} is not a reference under ${opts.registry}`);
      return resolveTagDigest(opts, parts.service, parts.tag);
    },
    // The image's config (no file list) when no archive is at hand: the one the container runs.
    imageFacts: async () => {
      const parts = container && splitImageRef(container.image, opts.registry);
      if (!parts) return undefined;
      try {
        const info = await inspectImage(opts, parts.service, parts.tag);
        return { source: `registry ${info.image}`, architecture: info.architecture || undefined, os: info.os || undefined, exposedPorts: info.exposedPorts, entrypoint: info.entrypoint, cmd: info.cmd, env: [] };
      } catch (err) {
        if (err instanceof ImageNotFoundError) return undefined;
        throw err;
      }
    },
  };
}

/** Locates the container, gathers the evidence at hand, and diagnoses. */
export async function runDiagnosis(o: RunDiagnosisOptions): Promise<Diagnosis> {
  const api = o.api;
  if (!o.located && !api) throw new Error("runDiagnosis: either located or api is needed");
  const located = o.located ?? (o.containerId ? await locateContainerById(api!, o.containerId) : await findDeployed(api!, o.service, o.stack));
  let domains: DomainInfo[] | undefined;
  if (o.service.domain && located.container && api) {
    domains = await api.listDomains(located.container.id).catch(() => undefined);
  }
  const archive = o.archive;
  // A .tar.gz or an image stream script (what the flake apps hand over) becomes a plain tar once, for
  // both the image facts and the smoke run; a bad archive is reported by those checks, not fatal here.
  let opened: OpenedArchive | undefined;
  let archiveError: Error | undefined;
  if (archive) {
    try {
      opened = await openArchive(archive, { label: `--archive ${archive}` });
    } catch (err) {
      archiveError = err as Error;
    }
  }
  try {
    const plain = opened?.archive.file;
    const fromRegistry = o.registryOptions ? registryProbes(o.registryOptions, located.container) : {};
    const probes: DiagnoseProbes = {
      ...fromRegistry,
      imageFacts: archive
        ? async () => {
            if (archiveError) throw archiveError;
            return { ...(await archiveImageFacts(plain!)), source: `archive ${archive}` };
          }
        : fromRegistry.imageFacts,
      smoke:
        o.smoke === false
          ? undefined
          : async () => {
              if (archiveError) throw archiveError;
              return smokeOutcome({ service: o.service, root: o.root, archive: plain, stack: o.stack, timeoutMs: o.smokeTimeoutMs });
            },
      resolveCname: (host) => dns.resolveCname(host),
      fetch: globalThis.fetch,
      now: () => new Date(),
      ...o.probes,
    };
    return await diagnose(
      { service: o.service, stack: o.stack, root: o.root, registry: o.registry, archive, container: located.container, namespace: located.namespace, domains },
      probes,
    );
  } finally {
    opened?.dispose();
  }
}
