// `nixway status`: where a service's container stands on Scaleway. It is found by name: the namespace
// `<service>-<stack>` and the container `<service>` in it (generator/pulumi/names.ts, the names the
// ContainerService component gives them), so no Pulumi state is needed to read it.
import { OperationError, UsageError } from "./diagnostics.ts";
import type { Service } from "./model.ts";
import { containerNameFor, namespaceNameFor } from "./pulumi/names.ts";
import type { ContainerInfo, NamespaceInfo, ScalewayApi } from "./scaleway/api.ts";

export interface Located {
  namespace: NamespaceInfo;
  container: ContainerInfo;
}

export function requireStack(service: Service, stack: string, command: string): void {
  if (!Object.hasOwn(service.stacks, stack)) {
    throw new UsageError(`${command}: service '${service.name}' has no stack '${stack}' (declared: ${Object.keys(service.stacks).join(", ")})`);
  }
}

/** Whatever exists of the service on that stack: nothing, the namespace alone, or both. */
export async function findDeployed(api: ScalewayApi, service: Service, stack: string): Promise<Partial<Located>> {
  const namespace = await api.findNamespace(namespaceNameFor(service.name, stack));
  if (!namespace) return {};
  return { namespace, container: await api.findContainer(namespace.id, containerNameFor(service.name)) };
}

/** The service's namespace and container in that stack; an OperationError that says what to do when absent. */
export async function locateContainer(api: ScalewayApi, service: Service, stack: string): Promise<Located> {
  const nsName = namespaceNameFor(service.name, stack);
  const { namespace, container } = await findDeployed(api, service, stack);
  if (!namespace) {
    throw new OperationError(
      `no container namespace '${nsName}' in ${api.region}: '${service.name}' has not been deployed to stack '${stack}' ` +
        `(or SCW_DEFAULT_PROJECT_ID / projectId points at another project); deploy it with 'npx nixway deploy ${service.name} --stack ${stack} --archive PATH'`,
    );
  }
  if (!container) {
    throw new OperationError(
      `namespace '${nsName}' (${namespace.id}, ${namespace.status}) holds no container '${containerNameFor(service.name)}'; deploy it with 'npx nixway deploy ${service.name} --stack ${stack} --archive PATH'`,
    );
  }
  return { namespace, container };
}

/** The container by id (from `pulumi stack output` or the console), and the namespace it lives in. */
export async function locateContainerById(api: ScalewayApi, containerId: string): Promise<Located> {
  const container = await api.getContainer(containerId);
  return { container, namespace: await api.getNamespace(container.namespaceId) };
}

export interface StatusReport {
  service: string;
  stack: string;
  region: string;
  /** The API's container, JSON-ready: dates as ISO strings, absent values as null, plus its https URL. */
  container: Pick<ContainerInfo, "id" | "name" | "status" | "endpoint" | "image" | "port" | "minScale" | "maxScale" | "memoryLimitMB" | "cpuLimit"> & {
    errorMessage: string | null;
    url: string;
    updatedAt: string | null;
    readyAt: string | null;
  };
  namespace: { id: string; name: string; status: string; errorMessage: string | null };
}

export function statusReport(service: Service, stack: string, region: string, { namespace, container }: Located): StatusReport {
  return {
    service: service.name,
    stack,
    region,
    container: {
      id: container.id,
      name: container.name,
      status: container.status,
      errorMessage: container.errorMessage ?? null,
      endpoint: container.endpoint,
      url: container.endpoint ? `https://${container.endpoint}` : "",
      image: container.image,
      port: container.port,
      minScale: container.minScale,
      maxScale: container.maxScale,
      memoryLimitMB: container.memoryLimitMB,
      cpuLimit: container.cpuLimit,
      updatedAt: container.updatedAt?.toISOString() ?? null,
      readyAt: container.readyAt?.toISOString() ?? null,
    },
    namespace: { id: namespace.id, name: namespace.name, status: namespace.status, errorMessage: namespace.errorMessage ?? null },
  };
}

export async function readStatus(api: ScalewayApi, service: Service, stack: string): Promise<StatusReport> {
  return statusReport(service, stack, api.region, await locateContainer(api, service, stack));
}

/** "3m 20s ago" style, for people; JSON carries the ISO time. */
export function ago(iso: string | null, now: Date): string {
  if (!iso) return "unknown";
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  const parts = s >= 86400 ? [`${Math.floor(s / 86400)}d`, `${Math.floor((s % 86400) / 3600)}h`] : s >= 3600 ? [`${Math.floor(s / 3600)}h`, `${Math.floor((s % 3600) / 60)}m`] : s >= 60 ? [`${Math.floor(s / 60)}m`, `${s % 60}s`] : [`${s}s`];
  return `${iso} (${parts.join(" ")} ago)`;
}

export function formatStatus(r: StatusReport, now = new Date()): string {
  const c = r.container;
  const rows: [string, string][] = [
    ["container", `${c.name} (${c.id})`],
    ["status", c.status],
    ["error_message", c.errorMessage ?? "none"],
    ["url", c.url || "none yet"],
    ["image", c.image],
    ["port", String(c.port)],
    ["scale", `min ${c.minScale}, max ${c.maxScale}${c.minScale === 0 ? " (scales to zero: cold starts expected)" : ""}`],
    ["resources", `${c.memoryLimitMB} MB, ${c.cpuLimit} mvCPU`],
    ["updated_at", ago(c.updatedAt, now)],
    ["namespace", `${r.namespace.name} (${r.namespace.id}): ${r.namespace.status}${r.namespace.errorMessage ? `: ${r.namespace.errorMessage}` : ""}`],
  ];
  return [`${r.service} on stack ${r.stack} (${r.region})`, ...rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`)].join("\n") + "\n";
}
