import path from "node:path";
import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { failing, formatDiagnosis, runDiagnosis } from "../diagnose.ts";
import { UsageError } from "../diagnostics.ts";
import { findRoot, loadService } from "../repo.ts";
import { connectScaleway } from "../scaleway/api.ts";
import { REGISTRY_FLAGS, REGISTRY_FLAGS_HELP, takeTlsVerify } from "../registry/cli-options.ts";
import { checkRegistry } from "../registry/reference.ts";
import { childEnv } from "../secret.ts";
import { requireStack } from "../status.ts";

export const command: Command = {
  name: "diagnose",
  summary: "check every runbook cause of a failed or unhealthy container; verdicts and fixes",
  help: `Usage: nixway diagnose SERVICE --stack STACK [--archive PATH] [--json] [--no-smoke]
                       [--container-id ID] [--registry HOST/NAMESPACE] [--tls-verify=false]
                       [--cert-dir DIR] [--root DIR]

Reads the container from the Scaleway API and checks each cause the runbook lists, printing a
verdict and the fix for each:
  image-not-found   the image the container runs vs what the registry holds
  port-mismatch     configured port vs the image's ExposedPorts vs what the app listens on
  entrypoint-crash  the image's Cmd binary, #!/usr/bin/env bun shebangs, a local start
  architecture      the image must be amd64
  memory-limit      peak memory of a local start vs the stack's memoryLimit
  missing-env       env vars the app reads (process.env.X, Bun.env.X) that are not set
  stuck-creating    creating/pending for longer than 5 minutes
  domain-dns        the custom domain's CNAME points at the container's endpoint
  health-check      a ready container must answer the health path with 2xx (the 502 case)
The API's error_message is mapped to its cause; a message nixway does not know is shown
verbatim. A check whose evidence is not at hand says so ("--").

A local smoke run (nixway smoke) supplies the port, crash and memory evidence: the image
itself with --archive, else the app directory with bun. --no-smoke skips it.

Options:
  --stack STACK        the stack; required
  --archive PATH       the image's docker-archive (e.g. ./result of nix build .#SERVICE-image)
  --json               print {"service","stack","status","errorMessage","causes":[{"id","ok","detail","fix"}]}
                       (ok: true fine, false a cause, null not checked)
  --no-smoke           do not run the app locally
  --container-id ID    diagnose this container instead of looking it up by name
${REGISTRY_FLAGS_HELP}

Credentials: SCW_ACCESS_KEY, SCW_SECRET_KEY (or apiSecret in nixway.yaml), SCW_DEFAULT_PROJECT_ID,
SCW_DEFAULT_REGION, SCW_API_URL, as for nixway status.

Exit status: 0 no cause found, 1 a cause found (or a failed operation), 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const tls = takeTlsVerify("diagnose", argv);
    const { values, positionals } = parseCommandArgs(
      "diagnose",
      tls.argv,
      {
        ...REGISTRY_FLAGS,
        stack: { type: "string" },
        archive: { type: "string" },
        json: { type: "boolean" },
        "no-smoke": { type: "boolean" },
        "container-id": { type: "string" },
      },
      { min: 1, max: 1, names: "SERVICE" },
    );
    if (!values.stack) throw new UsageError("diagnose: --stack STACK is required");
    const root = findRoot(values.root);
    const { repo, service } = await loadService(root, positionals[0]);
    requireStack(service, values.stack, "diagnose");
    const registry = values.registry !== undefined ? checkRegistry(values.registry) : repo.config.registry;
    const { api, config } = await connectScaleway(repo.config, process.env, root);
    const diagnosis = await runDiagnosis({
      api,
      service,
      stack: values.stack,
      root,
      archive: values.archive,
      containerId: values["container-id"],
      smoke: !values["no-smoke"],
      registry,
      registryOptions: registry
        ? { registry, secret: config.secretKey, tlsVerify: tls.tlsVerify, certDir: values["cert-dir"] && path.resolve(values["cert-dir"]), env: childEnv(repo.config) }
        : undefined,
    });
    io.stdout.write(values.json ? JSON.stringify(diagnosis, null, 2) + "\n" : formatDiagnosis(diagnosis));
    return failing(diagnosis).length ? 1 : 0;
  },
};
