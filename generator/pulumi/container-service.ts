// The ContainerService component: what the runbook's shared library provides, on
// @pulumiverse/scaleway's non-deprecated `scaleway.containers.*` inputs. One per service and stack:
// a container namespace, the container running the pushed image, an optional custom domain and
// an optional keep-warm cron trigger. Each services/<svc>/infra/index.ts (generated) creates one.
import * as pulumi from "@pulumi/pulumi";
import * as scaleway from "@pulumiverse/scaleway";
import type { HealthCheck, KeepWarm, StackSettings as ModelStackSettings } from "../model.ts";
import { containerNameFor, KEEP_WARM_TRIGGER_NAME, namespaceNameFor } from "./names.ts";

/** The Pulumi type token of the component. */
export const CONTAINER_SERVICE_TYPE = "nixway:scaleway:ContainerService";

/** What a stack may set differently (service.yaml `stacks:`), resolved by the generator. */
export interface StackSettings extends ModelStackSettings {
  /** The custom domain this stack answers on, if any. */
  domain?: string;
}

/** healthCheck of service.yaml, defaults applied (interval in seconds). */
export type HealthCheckArgs = HealthCheck;

/** keepWarm of service.yaml, defaults applied (five-field cron, IANA zone, GET path). */
export type KeepWarmArgs = KeepWarm;

export interface ContainerServiceArgs extends StackSettings {
  /**
   * The full image reference, `host/namespace/name:c-<content tag>`. The tag is derived from
   * the image's content, so the reference changes exactly when the image does.
   */
  image: pulumi.Input<string>;
  /** The manifest digest `sha256:…`, sent as registrySha256: a changed image always redeploys. */
  imageDigest: pulumi.Input<string>;
  port: number;
  /** Seconds a request may take. */
  timeout: number;
  privacy: "public" | "private";
  description?: string;
  /** Env name -> value, typically `config.requireSecret(key)`; always sent as secrets. */
  secretEnvironmentVariables?: Record<string, pulumi.Input<string>>;
  healthCheck?: HealthCheckArgs;
  /** Ignored when minScale >= 1: an instance is always up, so there is nothing to keep warm. */
  keepWarm?: KeepWarmArgs;
  /** Redirect HTTP to HTTPS. Default true. */
  httpsConnectionsOnly?: boolean;
  /** Scaleway region; default: the provider's (`scaleway:region` / SCW_DEFAULT_REGION). */
  region?: string;
  /** Scaleway project of the namespace; default: the provider's. */
  projectId?: string;
  /** Default: namespaceNameFor(name, stack). */
  namespaceName?: string;
  /** Default: containerNameFor(name). */
  containerName?: string;
}

const MEGABYTE = 1024 * 1024;

export class ContainerService extends pulumi.ComponentResource {
  readonly namespace: scaleway.containers.Namespace;
  readonly container: scaleway.containers.Container;
  readonly domain: scaleway.containers.Domain | undefined;
  readonly keepWarmTrigger: scaleway.containers.Trigger | undefined;
  readonly namespaceId: pulumi.Output<string>;
  readonly containerId: pulumi.Output<string>;
  /**
   * The container's status. The provider only warns when a deploy ends in `error`, so
   * `nixway deploy` checks this itself after `pulumi up`.
   */
  readonly status: pulumi.Output<string>;
  readonly errorMessage: pulumi.Output<string>;
  /** https://<the container's public endpoint>. */
  readonly url: pulumi.Output<string>;
  /** https://<domain> when a custom domain is set. */
  readonly domainUrl: pulumi.Output<string> | undefined;

  constructor(name: string, args: ContainerServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(CONTAINER_SERVICE_TYPE, name, {}, opts);
    const parent = { parent: this };
    const region = args.region;

    this.namespace = new scaleway.containers.Namespace(
      name,
      {
        name: args.namespaceName ?? namespaceNameFor(name, pulumi.getStack()),
        description: `nixway: ${name} (${pulumi.getStack()})`,
        region,
        projectId: args.projectId,
      },
      parent,
    );

    const probe = args.healthCheck && {
      http: { path: args.healthCheck.path },
      failureThreshold: args.healthCheck.failureThreshold,
      interval: `${args.healthCheck.interval}s`,
      // A check must answer before the next one is due.
      timeout: `${args.healthCheck.interval}s`,
    };
    const secrets = args.secretEnvironmentVariables ?? {};

    this.container = new scaleway.containers.Container(
      name,
      {
        namespaceId: this.namespace.id,
        name: args.containerName ?? containerNameFor(name),
        description: args.description,
        region,
        image: args.image,
        registrySha256: args.imageDigest,
        port: args.port,
        minScale: args.minScale,
        maxScale: args.maxScale,
        memoryLimitBytes: args.memoryLimit * MEGABYTE,
        cpuLimit: args.cpuLimit,
        timeout: args.timeout,
        privacy: args.privacy,
        httpsConnectionsOnly: args.httpsConnectionsOnly ?? true,
        livenessProbe: probe,
        startupProbe: probe,
        environmentVariables: { ...args.environmentVariables },
        secretEnvironmentVariables: Object.keys(secrets).length ? pulumi.secret(secrets) : undefined,
      },
      parent,
    );

    if (args.domain !== undefined) {
      this.domain = new scaleway.containers.Domain(
        `${name}-domain`,
        { containerId: this.container.id, hostname: args.domain, region },
        parent,
      );
      this.domainUrl = pulumi.output(`https://${args.domain}`);
    }

    if (args.keepWarm !== undefined && args.minScale === 0) {
      this.keepWarmTrigger = new scaleway.containers.Trigger(
        `${name}-keep-warm`,
        {
          containerId: this.container.id,
          name: KEEP_WARM_TRIGGER_NAME,
          description: `nixway keep-warm: GET ${args.keepWarm.path} on "${args.keepWarm.schedule}" (${args.keepWarm.timezone})`,
          region,
          cron: { schedule: args.keepWarm.schedule, timezone: args.keepWarm.timezone },
          destinationConfig: { httpMethod: "get", httpPath: args.keepWarm.path },
        },
        parent,
      );
    }

    this.namespaceId = this.namespace.id;
    this.containerId = this.container.id;
    this.status = this.container.status;
    this.errorMessage = this.container.errorMessage;
    this.url = pulumi.interpolate`https://${this.container.publicEndpoint}`;
    this.registerOutputs({
      namespaceId: this.namespaceId,
      containerId: this.containerId,
      status: this.status,
      errorMessage: this.errorMessage,
      url: this.url,
      domainUrl: this.domainUrl,
    });
  }
}

/**
 * The image the stack deploys: stack config `image` and `imageDigest`, which
 * `nixway deploy` sets from the push. Missing or malformed values stop the program with
 * a message saying how to set them (RunError: no stack trace).
 */
export function requireImage(config: pulumi.Config, service: string): { image: string; imageDigest: string } {
  const image = config.get("image");
  const imageDigest = config.get("imageDigest");
  const how =
    `deploy with \`npx nixway deploy ${service} --stack ${pulumi.getStack()}\`, which pushes the image and sets both, ` +
    "or set them yourself with `pulumi config set image HOST/NAMESPACE/NAME:TAG` and `pulumi config set imageDigest sha256:...`";
  if (!image || !imageDigest) {
    const missing = [!image && "image", !imageDigest && "imageDigest"].filter(Boolean).join(" and ");
    throw new pulumi.RunError(`stack config ${missing} not set for stack '${pulumi.getStack()}': ${how}`);
  }
  if (!imageDigest.startsWith("sha256:")) {
    throw new pulumi.RunError(`stack config imageDigest is ${JSON.stringify(imageDigest)}, expected a manifest digest sha256:...: ${how}`);
  }
  return { image, imageDigest };
}

/** The effective settings of the running stack, or a RunError naming the declared stacks. */
export function settingsForStack(stacks: Record<string, StackSettings>, source: string): StackSettings {
  const stack = pulumi.getStack();
  if (Object.hasOwn(stacks, stack)) return stacks[stack];
  throw new pulumi.RunError(
    `stack '${stack}' is not declared in ${source} (declared: ${Object.keys(stacks).join(", ")}); ` +
      "add it under stacks: there and run `npx nixway generate`, or select a declared stack",
  );
}
