import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { UsageError } from "../diagnostics.ts";
import { findRoot, loadService } from "../repo.ts";
import { connectScaleway } from "../scaleway/api.ts";
import { formatStatus, locateContainer, locateContainerById, requireStack, statusReport } from "../status.ts";

export const command: Command = {
  name: "status",
  summary: "show a service's container on Scaleway: status, error, URL, image, scale",
  help: `Usage: nixway status SERVICE --stack STACK [--json] [--container-id ID] [--root DIR]

Reads the service's container from the Scaleway API (containers v1beta1): status,
error_message, endpoint URL, image, port, scales, memory/CPU, updated_at, and the status of
its namespace. The container is found by name: namespace <service>-<stack>, container
<service> (the names the generated Pulumi program gives them).

Credentials as Scaleway's tools read them: SCW_ACCESS_KEY, SCW_SECRET_KEY (or apiSecret in
nixway.yaml), SCW_DEFAULT_PROJECT_ID (or projectId), SCW_DEFAULT_REGION (or region),
SCW_API_URL (default https://api.scaleway.com).

Options:
  --stack STACK        the stack (e.g. testing, production); required
  --json               print {"service","stack","region","container":{...},"namespace":{...}}
  --container-id ID    read this container instead of looking it up by name
  --root DIR           repository root (default: nearest ancestor with nixway.yaml or services/)

Exit status: 0 read, 1 not found or API failure, 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const { values, positionals } = parseCommandArgs(
      "status",
      argv,
      { stack: { type: "string" }, json: { type: "boolean" }, "container-id": { type: "string" }, root: { type: "string" } },
      { min: 1, max: 1, names: "SERVICE" },
    );
    if (!values.stack) throw new UsageError("status: --stack STACK is required");
    const root = findRoot(values.root);
    const { repo, service } = await loadService(root, positionals[0]);
    requireStack(service, values.stack, "status");
    const { api } = await connectScaleway(repo.config, process.env, root);
    const located = values["container-id"] ? await locateContainerById(api, values["container-id"]) : await locateContainer(api, service, values.stack);
    const report = statusReport(service, values.stack, api.region, located);
    io.stdout.write(values.json ? JSON.stringify(report, null, 2) + "\n" : formatStatus(report));
    return 0;
  },
};
