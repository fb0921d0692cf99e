// In-process Pulumi mocks for unit tests of the ContainerService component: every resource
// registration is recorded with its raw inputs (secrets keep Pulumi's secret wrapper), ids and
// outputs come from a fake provider. One test file runs in one process, so each run re-arms the
// mocks with its own stack and waits until every registration has been answered.
import * as pulumi from "@pulumi/pulumi";

export interface Registered {
  type: string;
  name: string;
  custom: boolean;
  inputs: Record<string, any>;
}

/** A fake endpoint the mock provider reports for every container. */
export const FAKE_ENDPOINT = "hello-abc123.functions.fnc.fr-par.scw.cloud";

export async function runWithMocks(
  options: { project?: string; stack: string; config?: Record<string, string>; secretKeys?: string[] },
  program: () => unknown,
): Promise<{ resources: Registered[]; result: unknown }> {
  const resources: Registered[] = [];
  const project = options.project ?? "hello";
  pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, custom: args.custom === true, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "scaleway:containers/container:Container") {
          state.status = "ready";
          state.errorMessage = "";
          state.publicEndpoint = FAKE_ENDPOINT;
        }
        return { id: args.custom ? `${args.name}-id` : undefined, state };
      },
      call() {
        return {};
      },
    },
    project,
    options.stack,
    false,
  );
  const result = program();
  await pulumi.runtime.disconnect();
  return { resources, result };
}

/** The value of an Output. */
export async function resolve<T>(output: pulumi.Output<T>): Promise<{ value: T }> {
  const value = await new Promise<T>((res) => output.apply((v) => res(v)));
  return { value };
}

export function isSecretInput(value: unknown): boolean {
  return (
    value !== null &&
    typeof value === "object" &&
    (value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig
  );
}

export function secretValue(value: unknown): unknown {
  return (value as { value: unknown }).value;
}

export function byType(resources: Registered[], type: string): Registered[] {
  return resources.filter((r) => r.type === type);
}

export const TYPES = {
  component: "nixway:scaleway:ContainerService",
  namespace: "scaleway:containers/namespace:Namespace",
  container: "scaleway:containers/container:Container",
  domain: "scaleway:containers/domain:Domain",
  trigger: "scaleway:containers/trigger:Trigger",
  cron: "scaleway:containers/cron:Cron",
} as const;
