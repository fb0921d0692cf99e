// `nixway deploy`: the runbook's push -> pulumi up -> verify, as one command that does not stop at
// "Pulumi said ok". Pulumi's Scaleway provider only warns when the container ends in `error`, so after
// `pulumi up` the container's status is read from the API until it settles; a ready container's health
// path is then requested (the cold-start time), and anything else runs the diagnosis and fails.
//
// The Pulumi CLI is behind the PulumiRunner seam (it cannot be installed here; the flake app pins it).
// Secrets never go on its argv: the Scaleway keys reach it in its environment only (AWS_* for the state
// bucket, SCW_* for the provider; generator/pulumi/backend.ts builds that environment).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { formatDiagnosis, healthUrl, probeHealth, runDiagnosis, type Diagnosis, type DiagnoseProbes } from "./diagnose.ts";
import { OperationError } from "./diagnostics.ts";
import type { RepoConfig, Service } from "./model.ts";
import { run } from "./proc.ts";
import { pulumiEnv } from "./pulumi/backend.ts";
import { pushImage, type PushResult } from "./registry/push.ts";
import type { RegistryOptions } from "./registry/session.ts";
import { WaitTimeoutError, type ContainerInfo, type ScalewayApi } from "./scaleway/api.ts";
import type { ScalewayConfig } from "./scaleway/config.ts";
import { childEnv } from "./secret.ts";
import { findDeployed, locateContainerById, type Located } from "./status.ts";

/* ------------------------------------------------------------------ the Pulumi CLI seam */

export interface PulumiResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pulumi ARGS` in `cwd` with exactly `env`. The default runs the `pulumi` binary; tests record instead. */
export interface PulumiRunner {
  run(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; onOutput?: (text: string) => void }): Promise<PulumiResult>;
  /** Checks, before anything is pushed, that the program in `infra` can run at all. */
  preflight?(infra: string, root: string): void;
}

/** What the generated program loads: Pulumi's nodejs runtime runs it with `--import tsx`. */
export const PROGRAM_PACKAGES = ["tsx", "@pulumi/pulumi", "@pulumiverse/scaleway"] as const;

/**
 * The real `pulumi` runs the program with node from services/<svc>/infra, so those packages must
 * resolve from there: the repository's node_modules (npm ci). Said up front, not as a stack trace
 * from deep inside `pulumi up` after the image was already pushed.
 */
export function checkProgramPackages(infra: string, root: string): void {
  const resolver = createRequire(path.join(infra, "index.ts"));
  const missing = PROGRAM_PACKAGES.filter((name) => {
    try {
      resolver.resolve(`${name}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    throw new OperationError(
      `${path.relative(root, infra)}/index.ts cannot load ${missing.join(", ")}: the Pulumi program runs with the repository's node_modules; run 'npm ci' at the repository root, then deploy again`,
    );
  }
}

/** The real CLI, found on the PATH of the environment it is given (the flake app puts a pinned one there). */
export const pulumiCli: PulumiRunner = {
  preflight: checkProgramPackages,
  async run(args, opts) {
    try {
      return await run(["pulumi", ...args], { cwd: opts.cwd, env: opts.env, onOutput: opts.onOutput && ((text) => opts.onOutput!(text)) });
    } catch (err) {
      if (/command not found/.test((err as Error).message)) {
        throw new OperationError("pulumi: command not found: deploy through the flake app (nix run .#deploy-<service>, which pins pulumi), or install the Pulumi CLI");
      }
      throw err;
    }
  },
};

/* ------------------------------------------------------------------ progress */

export interface Progress {
  /** A step that is done or starting: one line. */
  step(line: string): void;
  /** What is being waited on; a spinner on a terminal, a line per change otherwise. */
  waiting(text: string): void;
  /** Stops the spinner. */
  done(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export function progressFor(out: { write(text: string): unknown }, tty: boolean): Progress {
  if (!tty) {
    let last = "";
    return {
      step: (line) => void out.write(`${line}\n`),
      waiting: (text) => {
        if (text !== last) out.write(`${text}\n`);
        last = text;
      },
      done: () => {},
    };
  }
  let text = "";
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => out.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${text}`);
  const clear = () => out.write("\r\x1b[2K");
  return {
    step: (line) => {
      if (timer) clear();
      out.write(`${line}\n`);
      if (timer) draw();
    },
    waiting: (t) => {
      text = t;
      if (!timer) {
        timer = setInterval(draw, 100);
        timer.unref();
      }
      draw();
    },
    done: () => {
      if (timer) {
        clearInterval(timer);
        timer = undefined;
        clear();
      }
    },
  };
}

/* ------------------------------------------------------------------ cold start */

export interface ColdStart {
  url: string;
  /** From the first request until the first 2xx answer. */
  ms: number | null;
  /** Status of the last answer, null when none came. */
  status: number | null;
  attempts: number;
  error: string | null;
}

/**
 * Requests the health URL until it answers 2xx or `deadlineMs` passes: a container scaled to zero
 * starts on this first request (2-10 s by the runbook), and the platform answers 502/503 meanwhile.
 */
export async function measureColdStart(
  doFetch: typeof fetch,
  url: string,
  opts: { deadlineMs?: number; intervalMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<ColdStart> {
  const deadline = opts.deadlineMs ?? 60_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = performance.now();
  let attempts = 0;
  let status: number | null = null;
  let error: string | null = null;
  for (;;) {
    attempts++;
    const left = deadline - (performance.now() - start);
    const r = await probeHealth(doFetch, url, Math.max(1_000, Math.min(30_000, left)));
    if ("status" in r) {
      status = r.status;
      error = null;
      if (r.status >= 200 && r.status < 300) return { url, ms: Math.round(performance.now() - start), status, attempts, error };
      // A private container answers 401/403 to anonymous requests: waiting will not change that.
      if (r.status === 401 || r.status === 403) return { url, ms: null, status, attempts, error };
    } else error = r.error;
    if (performance.now() - start + (opts.intervalMs ?? 1_000) > deadline) return { url, ms: null, status, attempts, error };
    await sleep(opts.intervalMs ?? 1_000);
  }
}

/* ------------------------------------------------------------------ the deploy */

export interface DeployOptions {
  service: Service;
  stack: string;
  /** Absolute repository root. */
  root: string;
  repoConfig: RepoConfig;
  /** The image: docker-archive (tar or tar.gz) or image stream script. */
  archive: string;
  scaleway: ScalewayConfig;
  api: ScalewayApi;
  /** Helper D's registry options (registry prefix, secret, TLS). */
  registry: RegistryOptions;
  /** Mutable tags to move to the pushed image (default: the stack's name). */
  tags?: string[];
  pulumi?: PulumiRunner;
  /** The environment the Pulumi CLI's is built from (default process.env, minus the secret's variables). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Ask the platform to deploy again after `pulumi up` (an unchanged image is otherwise a no-op). */
  redeploy?: boolean;
  /** How long to wait for ready or error (default 10 min); polling backoff bounds. */
  waitTimeoutMs?: number;
  pollMinMs?: number;
  pollMaxMs?: number;
  /** How long the health path may take to answer 2xx after ready (default 60 s), and between tries. */
  healthDeadlineMs?: number;
  healthIntervalMs?: number;
  /** Run the app or image locally when diagnosing a failure (default true). */
  smoke?: boolean;
  /** Replaces https://<endpoint> for the health request, and any diagnosis probe (tests). */
  healthBaseUrl?: string;
  fetch?: typeof fetch;
  diagnoseProbes?: Partial<DiagnoseProbes>;
  progress?: Progress;
  /** Where Pulumi's own output goes as it runs (default: dropped; the CLI sends it to stderr). */
  onPulumiOutput?: (text: string) => void;
  /** How often `pulumi up` is retried when it fails on a 409 transient state (default 3 runs in all). */
  upAttempts?: number;
}

export interface DeployResult {
  service: string;
  stack: string;
  image: string;
  digest: string;
  contentTag: string;
  tags: string[];
  uploaded: boolean;
  containerId: string | null;
  status: string;
  errorMessage: string | null;
  url: string | null;
  coldStartMs: number | null;
  health: { url: string; status: number | null; error: string | null } | null;
  /** Set when the deploy failed: every runbook cause checked. */
  diagnosis: Diagnosis | null;
  ok: boolean;
}

/** The argv of every Pulumi call deploy makes (exported so tests and docs show exactly what runs). */
export function pulumiSteps(stack: string, push: Pick<PushResult, "image" | "digest">): string[][] {
  return [
    ["stack", "select", "--create", "--stack", stack, "--non-interactive"],
    ["config", "set", "image", push.image, "--plaintext", "--stack", stack, "--non-interactive"],
    ["config", "set", "imageDigest", push.digest, "--plaintext", "--stack", stack, "--non-interactive"],
    ["up", "--yes", "--stack", stack, "--non-interactive"],
  ];
}

const TRANSIENT_STATE = /transient[ _]state|\b409\b.*(?:pending|creating|updating)/i;

function lastLines(text: string, n = 15): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

export async function runDeploy(o: DeployOptions): Promise<DeployResult> {
  const progress = o.progress ?? progressFor({ write: () => true }, false);
  const pulumi = o.pulumi ?? pulumiCli;
  const { service, stack } = o;
  const infra = path.join(o.root, service.dir, "infra");
  const label = `${service.name} (${stack})`;
  if (!existsSync(path.join(infra, "Pulumi.yaml"))) {
    throw new OperationError(`${path.relative(o.root, infra)}/Pulumi.yaml does not exist: generate the Pulumi program first (npx nixway generate)`);
  }
  pulumi.preflight?.(infra, o.root);

  // 1. Push: content-addressed, a no-op upload when the registry already has the image.
  progress.step(`push: ${o.archive} -> ${o.registry.registry}/${service.name}`);
  const pushed = await pushImage({
    ...o.registry,
    service: service.name,
    archive: o.archive,
    tags: o.tags ?? [stack],
    sizeBudgetMB: service.imageSizeBudgetMB,
    log: (line) => progress.step(`  ${line}`),
  });
  progress.step(`push: ${pushed.image} (${pushed.digest})${pushed.uploaded ? "" : ", already in the registry: nothing uploaded"}`);

  // 2. pulumi up with the image as stack config, keys in the environment only.
  const env = pulumiEnv(childEnv(o.repoConfig, o.baseEnv ?? process.env), { accessKey: o.scaleway.accessKey, secretKey: o.scaleway.secretKey.reveal() }, o.repoConfig);
  const redact = (text: string) => o.scaleway.secretKey.redact(text);
  const pulumiRun = async (args: string[], live: boolean) => {
    const r = await pulumi.run(args, { cwd: infra, env, onOutput: live && o.onPulumiOutput ? (t) => o.onPulumiOutput!(redact(t)) : undefined });
    return { ...r, stdout: redact(r.stdout), stderr: redact(r.stderr) };
  };
  const [select, setImage, setDigest, up] = pulumiSteps(stack, pushed);
  for (const args of [select, setImage, setDigest]) {
    const r = await pulumiRun(args, false);
    if (r.code !== 0) throw new OperationError(`pulumi ${args.slice(0, 2).join(" ")} failed in ${path.relative(o.root, infra)} (exit ${r.code}):\n${lastLines(r.stderr || r.stdout)}`);
  }
  const attempts = o.upAttempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    progress.step(`pulumi up --stack ${stack}${attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : ""}`);
    const r = await pulumiRun(up, true);
    if (r.code === 0) break;
    const output = `${r.stdout}\n${r.stderr}`;
    if (TRANSIENT_STATE.test(output) && attempt < attempts) {
      // The container was still settling from the last change (409 transient_state): let it settle, retry.
      progress.step("pulumi up hit a 409 transient state: waiting for the container to settle, then retrying");
      const found = await findDeployed(o.api, service, stack);
      if (found.container) await o.api.waitForContainer(found.container.id, waitOptions(o, progress, label)).catch(() => undefined);
      continue;
    }
    throw new OperationError(`pulumi up failed for stack ${stack} (exit ${r.code}):\n${lastLines(r.stderr || r.stdout)}`);
  }

  // 3. Which container: the stack's outputs, else by name in the stack's namespace.
  let located: Partial<Located> = {};
  const outputs = await pulumiRun(["stack", "output", "--json", "--stack", stack, "--non-interactive"], false);
  let containerId: string | undefined;
  if (outputs.code === 0) {
    try {
      const parsed = JSON.parse(outputs.stdout) as { containerId?: unknown };
      if (typeof parsed.containerId === "string" && parsed.containerId) containerId = parsed.containerId;
    } catch {
      /* fall back to the name */
    }
  }
  located = containerId ? await locateContainerById(o.api, containerId) : await findDeployed(o.api, service, stack);
  if (!located.container) {
    throw new OperationError(`pulumi up finished, but no container '${service.name}' was found for stack ${stack}: check the program in ${path.relative(o.root, infra)} and 'pulumi stack output --stack ${stack}'`);
  }
  const id = located.container.id;

  if (o.redeploy) {
    progress.step(`redeploy: asking Scaleway to deploy container ${id} again`);
    await o.api.redeploy(id);
  }

  // 4. Wait for ready or error: creating/pending for 2-3 minutes is normal.
  let container: ContainerInfo;
  let timedOut = false;
  try {
    container = await o.api.waitForContainer(id, waitOptions(o, progress, label));
  } catch (err) {
    if (!(err instanceof WaitTimeoutError)) throw err;
    container = err.last;
    timedOut = true;
    progress.done();
    progress.step(err.message);
  }
  progress.done();
  located = { ...located, container };

  const result: DeployResult = {
    service: service.name,
    stack,
    image: pushed.image,
    digest: pushed.digest,
    contentTag: pushed.contentTag,
    tags: pushed.tags,
    uploaded: pushed.uploaded,
    containerId: id,
    status: container.status,
    errorMessage: container.errorMessage ?? null,
    url: container.endpoint ? `https://${container.endpoint}` : null,
    coldStartMs: null,
    health: null,
    diagnosis: null,
    ok: false,
  };

  // 5. Ready: the first request wakes it (cold start) and must answer 2xx on the health path.
  if (container.status === "ready" && !timedOut) {
    const url = healthUrl({ service, container }, o.healthBaseUrl);
    progress.waiting(`${label}: ready; GET ${url}`);
    const cold = await measureColdStart(o.fetch ?? globalThis.fetch, url, { deadlineMs: o.healthDeadlineMs, intervalMs: o.healthIntervalMs });
    progress.done();
    result.coldStartMs = cold.ms;
    result.health = { url, status: cold.status, error: cold.error };
    const privateAndRefused = container.privacy === "private" && (cold.status === 401 || cold.status === 403);
    result.ok = cold.ms !== null || privateAndRefused;
    if (result.ok) return result;
  }

  // 6. Anything else: diagnose every runbook cause.
  progress.step(`${label}: ${container.status}${container.errorMessage ? `: ${container.errorMessage}` : ""}; diagnosing`);
  result.diagnosis = await runDiagnosis({
    api: o.api,
    service,
    stack,
    root: o.root,
    registry: o.registry.registry,
    archive: o.archive,
    located,
    smoke: o.smoke,
    registryOptions: o.registry,
    probes: { ...(o.fetch ? { fetch: o.fetch } : {}), ...(o.healthBaseUrl ? { healthBaseUrl: o.healthBaseUrl } : {}), ...o.diagnoseProbes },
  });
  return result;
}

function waitOptions(o: DeployOptions, progress: Progress, label: string) {
  return {
    timeoutMs: o.waitTimeoutMs,
    minDelayMs: o.pollMinMs,
    maxDelayMs: o.pollMaxMs,
    onPoll: (c: ContainerInfo, elapsed: number) => progress.waiting(`${label}: ${c.status} (${Math.round(elapsed / 1000)} s)`),
  };
}

export function formatDeploy(r: DeployResult): string {
  const rows: [string, string][] = [
    ["image", r.image],
    ["digest", r.digest],
    ["tags", `${[r.contentTag, ...r.tags].join(", ")}${r.uploaded ? "" : " (already in the registry: nothing uploaded)"}`],
    ["container", r.containerId ?? "none"],
    ["status", `${r.status}${r.errorMessage ? `: ${r.errorMessage}` : ""}`],
    ["url", r.url ?? "none"],
    [
      "cold start",
      r.coldStartMs !== null
        ? `${r.coldStartMs} ms (GET ${r.health!.url} answered ${r.health!.status})`
        : r.health
          ? `no 2xx from ${r.health.url} (${r.health.status ?? r.health.error})`
          : "not measured",
    ],
  ];
  const head = r.ok ? `deployed ${r.service} to ${r.stack}` : `deploy of ${r.service} to ${r.stack} FAILED`;
  const body = [head, ...rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`)].join("\n") + "\n";
  return r.diagnosis ? `${formatDiagnosis(r.diagnosis)}\n${body}` : body;
}
