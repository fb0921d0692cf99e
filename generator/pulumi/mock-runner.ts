// Child-process entry of `nixway plan`: runs one Pulumi program under Pulumi's mocks, with no
// engine, CLI, credentials or network, and prints the resources it registers as one JSON line
// on stdout. A fresh process per run because the Pulumi runtime and the module cache are
// process-wide: a second program in the same process would see the first one's state.
//
// stdin:  {"program": ABS_PATH, "project", "stack", "config": {"project:key": "value"}, "secretKeys": [...]}
// stdout: {"resources": [{"type", "name", "custom", "inputs"}]}  or  {"error": MESSAGE}
import { pathToFileURL } from "node:url";
import * as pulumi from "@pulumi/pulumi";

interface Request {
  program: string;
  project: string;
  stack: string;
  config: Record<string, string>;
  secretKeys: string[];
}

interface RegisteredResource {
  type: string;
  name: string;
  custom: boolean;
  inputs: Record<string, unknown>;
}

/** How plan shows values it cannot or must not print. */
const SECRET_TEXT = "[secret]";
const COMPUTED_TEXT = "[computed]";

const reply = process.stdout.write.bind(process.stdout);

function finish(body: object, code: number): never {
  reply(JSON.stringify(body) + "\n");
  process.exit(code);
}

/** Secrets become "[secret]", values known only after deploy "[computed]"; keys sorted. */
function renderValue(value: unknown): unknown {
  if (pulumi.isUnknown(value)) return COMPUTED_TEXT;
  if (Array.isArray(value)) return value.map(renderValue);
  if (value !== null && typeof value === "object") {
    const rec = value as Record<string, unknown>;
    if (rec[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) {
      // A secret map (secret environment variables) keeps its names, never its values.
      const inner = rec.value;
      if (inner !== null && typeof inner === "object" && !Array.isArray(inner) && !pulumi.isUnknown(inner)) {
        return Object.fromEntries(Object.keys(inner).sort().map((k) => [k, SECRET_TEXT]));
      }
      return SECRET_TEXT;
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(rec).sort()) {
      if (rec[k] !== undefined) out[k] = renderValue(rec[k]);
    }
    return out;
  }
  return value;
}

async function readStdin(): Promise<string> {
  let text = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

async function main(): Promise<void> {
  const request = JSON.parse(await readStdin()) as Request;
  // The program's own console output must not mix with the reply.
  console.log = console.info = console.error;
  const fail = (err: unknown) => finish({ error: err instanceof Error ? err.message : String(err) }, 1);
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);

  const resources: RegisteredResource[] = [];
  pulumi.runtime.setAllConfig(request.config, request.secretKeys);
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.push({ type: args.type, name: args.name, custom: args.custom === true, inputs: renderValue(args.inputs) as Record<string, unknown> });
        // No id and no state: in a preview, what the provider computes stays unknown.
        return { id: undefined, state: {} };
      },
      call() {
        return {};
      },
    },
    request.project,
    request.stack,
    true,
  );
  await import(pathToFileURL(request.program).href);
  // Resources register asynchronously; wait until every registration has been answered.
  await pulumi.runtime.disconnect();
  finish({ resources }, 0);
}

main().catch((err) => finish({ error: err instanceof Error ? err.message : String(err) }, 1));
