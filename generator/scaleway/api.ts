// The one module that speaks the Scaleway Serverless Containers API. Everything else in nixway sees only
// the types and the ScalewayApi interface below, never the SDK: the JS SDK reachable here (2.78) speaks
// containers/v1beta1, which Scaleway deprecated for containers/v1 (renames: registry_image -> image,
// domain_name -> public_endpoint, memory_limit -> memory_limit_bytes, /deploy -> /redeploy, ...). Moving
// to v1 changes this file only.
import { Container, createClient } from "@scaleway/sdk";
import { OperationError } from "../diagnostics.ts";
import type { RepoConfig } from "../model.ts";
import { resolveScalewayConfig, type ScalewayConfig } from "./config.ts";

type SdkApi = InstanceType<typeof Container.v1beta1.API>;
type SdkContainer = Awaited<ReturnType<SdkApi["getContainer"]>>;
type SdkNamespace = Awaited<ReturnType<SdkApi["getNamespace"]>>;
type SdkDomain = Awaited<ReturnType<SdkApi["getDomain"]>>;

/** A container as nixway reads it, in the API's own words where they matter (status, errorMessage). */
export interface ContainerInfo {
  id: string;
  name: string;
  namespaceId: string;
  /** ready, error, creating, pending, created, updating, deleting, locked, upgrading, unknown. */
  status: string;
  /** The API's error_message, verbatim; undefined when none. */
  errorMessage: string | undefined;
  /** Host name the container answers on (v1beta1 domain_name, v1 public_endpoint), no scheme. */
  endpoint: string;
  /** The image reference the platform pulls (v1beta1 registry_image, v1 image). */
  image: string;
  port: number;
  minScale: number;
  maxScale: number;
  memoryLimitMB: number;
  cpuLimit: number;
  privacy: string;
  /** Plain environment variables set on the container (names and values). */
  environmentVariables: Record<string, string>;
  /** Names of the secret environment variables (the API returns only hashes of their values). */
  secretEnvironmentVariableNames: string[];
  /** HTTP health check path when the container has one. */
  healthCheckPath: string | undefined;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
  readyAt: Date | undefined;
  region: string;
}

export interface NamespaceInfo {
  id: string;
  name: string;
  status: string;
  errorMessage: string | undefined;
  projectId: string;
  environmentVariables: Record<string, string>;
  secretEnvironmentVariableNames: string[];
  updatedAt: Date | undefined;
}

export interface DomainInfo {
  id: string;
  hostname: string;
  containerId: string;
  status: string;
  errorMessage: string | undefined;
}

/** Statuses a container leaves on its own. `created` is listed because, once Pulumi has created the
 *  container, the provider deploys it next: the wait goes on instead of stopping before the deploy. */
export const TRANSIENT_CONTAINER_STATUSES: readonly string[] = ["creating", "pending", "created", "updating", "upgrading", "deleting", "locking"];

export function isTransientStatus(status: string): boolean {
  return TRANSIENT_CONTAINER_STATUSES.includes(status);
}

export interface WaitOptions {
  /** Give up after this long (default 10 minutes: creating for 2-3 minutes is normal). */
  timeoutMs?: number;
  /** First delay between polls; doubles up to maxDelayMs (defaults 2 s and 15 s). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Called after every poll, e.g. to show progress. */
  onPoll?: (container: ContainerInfo, elapsedMs: number) => void;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The wait ran out of time; `last` is what the container looked like at the end. */
export class WaitTimeoutError extends OperationError {
  readonly last: ContainerInfo;
  constructor(last: ContainerInfo, timeoutMs: number) {
    super(
      `container ${last.name} (${last.id}) is still '${last.status}' after ${Math.round(timeoutMs / 1000)} s` +
        (last.status === "created" ? "; it was created but never deployed: run the deploy again with --redeploy" : ""),
    );
    this.name = "WaitTimeoutError";
    this.last = last;
  }
}

export interface RetryOptions {
  /** How many 409 transient_state answers to sit out (default 10). */
  attempts?: number;
  delayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** What nixway needs from the Scaleway API, and nothing more. */
export interface ScalewayApi {
  readonly region: string;
  readonly apiUrl: string;
  /** The namespace with exactly this name in the project (and region), if any. */
  findNamespace(name: string): Promise<NamespaceInfo | undefined>;
  getNamespace(id: string): Promise<NamespaceInfo>;
  /** The container with exactly this name in the namespace, if any. */
  findContainer(namespaceId: string, name: string): Promise<ContainerInfo | undefined>;
  getContainer(id: string): Promise<ContainerInfo>;
  /**
   * Polls until the status is no longer transient and returns the container, also when it ended in
   * `error` (callers must check `status === "ready"`). Throws WaitTimeoutError when time runs out.
   */
  waitForContainer(id: string, options?: WaitOptions): Promise<ContainerInfo>;
  /** Asks the platform to deploy the container again (v1beta1 POST …/deploy, v1 …/redeploy),
   *  retrying while it answers 409 transient_state. */
  redeploy(id: string, options?: RetryOptions): Promise<ContainerInfo>;
  /** Custom domains attached to the container. */
  listDomains(containerId: string): Promise<DomainInfo[]>;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function secretNames(list: { key: string }[] | undefined): string[] {
  return (list ?? []).map((s) => s.key).sort();
}

function toContainerInfo(c: SdkContainer): ContainerInfo {
  return {
    id: c.id,
    name: c.name,
    namespaceId: c.namespaceId,
    status: c.status,
    errorMessage: c.errorMessage || undefined,
    endpoint: c.domainName,
    image: c.registryImage,
    port: c.port,
    minScale: c.minScale,
    maxScale: c.maxScale,
    memoryLimitMB: c.memoryLimit,
    cpuLimit: c.cpuLimit,
    privacy: c.privacy,
    environmentVariables: { ...(c.environmentVariables ?? {}) },
    secretEnvironmentVariableNames: secretNames(c.secretEnvironmentVariables),
    healthCheckPath: c.healthCheck?.http?.path || undefined,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    readyAt: c.readyAt,
    region: c.region,
  };
}

function toNamespaceInfo(n: SdkNamespace): NamespaceInfo {
  return {
    id: n.id,
    name: n.name,
    status: n.status,
    errorMessage: n.errorMessage || undefined,
    projectId: n.projectId,
    environmentVariables: { ...(n.environmentVariables ?? {}) },
    secretEnvironmentVariableNames: secretNames(n.secretEnvironmentVariables),
    updatedAt: n.updatedAt,
  };
}

function toDomainInfo(d: SdkDomain): DomainInfo {
  return { id: d.id, hostname: d.hostname, containerId: d.containerId, status: d.status, errorMessage: d.errorMessage || undefined };
}

interface HttpError {
  status: number;
  body?: { type?: string; message?: string };
}

function httpStatus(err: unknown): HttpError | undefined {
  return err instanceof Error && typeof (err as unknown as HttpError).status === "number" ? (err as unknown as HttpError) : undefined;
}

function isTransientStateError(err: unknown): boolean {
  const h = httpStatus(err);
  return h !== undefined && h.status === 409 && (h.body?.type === "transient_state" || (err as Error).name === "TransientStateError");
}

/** Turns SDK and network failures into messages that say what to do; never includes the secret. */
function explain(err: unknown, what: string, apiUrl: string): Error {
  const h = httpStatus(err);
  if (h) {
    if (h.status === 401 || h.status === 403) {
      return new OperationError(
        `Scaleway API refused ${what} (${h.status}): check SCW_ACCESS_KEY and SCW_SECRET_KEY (an API key of the project, with Serverless Containers permissions)`,
      );
    }
    return new OperationError(`Scaleway API error while ${what} (${h.status}): ${(err as Error).message}`);
  }
  if (err instanceof TypeError || (err instanceof Error && /fetch failed|ECONNREFUSED|ENOTFOUND|ETIMEDOUT/.test(err.message))) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    return new OperationError(`cannot reach the Scaleway API at ${apiUrl} while ${what}: ${cause?.code ?? cause?.message ?? (err as Error).message}; check the network or SCW_API_URL`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function createScalewayApi(config: ScalewayConfig, options: { httpClient?: typeof fetch } = {}): ScalewayApi {
  const client = createClient({
    accessKey: config.accessKey,
    secretKey: config.secretKey.reveal(),
    defaultProjectId: config.projectId,
    defaultRegion: config.region as "fr-par",
    apiURL: config.apiUrl,
    ...(options.httpClient ? { httpClient: options.httpClient } : {}),
  });
  const sdk = new Container.v1beta1.API(client);
  const region = config.region as "fr-par";

  async function call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw explain(err, what, config.apiUrl);
    }
  }

  async function getContainer(id: string): Promise<ContainerInfo> {
    try {
      return toContainerInfo(await sdk.getContainer({ region, containerId: id }));
    } catch (err) {
      if (httpStatus(err)?.status === 404) throw new OperationError(`container ${id} does not exist (any more) in ${config.region}`);
      throw explain(err, `reading container ${id}`, config.apiUrl);
    }
  }

  return {
    region: config.region,
    apiUrl: config.apiUrl,

    async findNamespace(name) {
      const list = await call(`looking up namespace ${name}`, () => sdk.listNamespaces({ region, name, projectId: config.projectId }).all());
      // The API matches names loosely; only an exact match is ours.
      const hit = list.find((n) => n.name === name);
      return hit && toNamespaceInfo(hit);
    },

    async getNamespace(id) {
      return toNamespaceInfo(await call(`reading namespace ${id}`, () => sdk.getNamespace({ region, namespaceId: id })));
    },

    async findContainer(namespaceId, name) {
      const list = await call(`looking up container ${name}`, () => sdk.listContainers({ region, namespaceId, name }).all());
      const hit = list.find((c) => c.name === name && c.namespaceId === namespaceId);
      return hit && toContainerInfo(hit);
    },

    getContainer,

    async waitForContainer(id, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
      const maxDelay = opts.maxDelayMs ?? 15_000;
      let delay = opts.minDelayMs ?? 2_000;
      const now = opts.now ?? Date.now;
      const sleep = opts.sleep ?? sleepFor;
      const start = now();
      for (;;) {
        const c = await getContainer(id);
        const elapsed = now() - start;
        opts.onPoll?.(c, elapsed);
        if (!isTransientStatus(c.status)) return c;
        if (elapsed + delay > timeoutMs) throw new WaitTimeoutError(c, timeoutMs);
        await sleep(delay);
        delay = Math.min(maxDelay, delay * 2);
      }
    },

    async redeploy(id, opts = {}) {
      const attempts = opts.attempts ?? 10;
      const sleep = opts.sleep ?? sleepFor;
      for (let attempt = 1; ; attempt++) {
        try {
          return toContainerInfo(await sdk.deployContainer({ region, containerId: id }));
        } catch (err) {
          // 409 transient_state: the container is still settling from the last change; wait and retry.
          if (isTransientStateError(err) && attempt < attempts) {
            await sleep(opts.delayMs ?? 5_000);
            continue;
          }
          if (isTransientStateError(err)) {
            throw new OperationError(`container ${id} stayed in a transient state through ${attempts} deploy attempts; wait for it to settle ('nixway status') and retry`);
          }
          throw explain(err, `deploying container ${id}`, config.apiUrl);
        }
      }
    },

    async listDomains(containerId) {
      const list = await call(`listing the domains of container ${containerId}`, () => sdk.listDomains({ region, containerId }).all());
      return list.map(toDomainInfo);
    },
  };
}

/** The API client for a repository: credentials from SCW_* or nixway.yaml (see config.ts). */
export async function connectScaleway(repoConfig: RepoConfig, env: NodeJS.ProcessEnv, cwd?: string): Promise<{ api: ScalewayApi; config: ScalewayConfig }> {
  const config = await resolveScalewayConfig(repoConfig, env, cwd);
  return { api: createScalewayApi(config), config };
}
