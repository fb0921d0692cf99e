import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { formatDeploy, progressFor, runDeploy } from "../deploy.ts";
import { UsageError } from "../diagnostics.ts";
import { REGISTRY_FLAGS, REGISTRY_FLAGS_HELP, takeTlsVerify } from "../registry/cli-options.ts";
import { checkMutableTag, checkRegistry } from "../registry/reference.ts";
import { findRoot, loadService } from "../repo.ts";
import { connectScaleway } from "../scaleway/api.ts";
import { childEnv } from "../secret.ts";
import { requireStack } from "../status.ts";

export const command: Command = {
  name: "deploy",
  summary: "push the image, pulumi up the stack, wait until ready, check the health path",
  help: `Usage: nixway deploy SERVICE --stack STACK --archive PATH [--tag TAG]... [--json]
                     [--redeploy] [--timeout SECONDS] [--no-smoke]
                     [--registry HOST/NAMESPACE] [--tls-verify=false] [--cert-dir DIR] [--root DIR]

What \`nix run .#deploy-SERVICE\` runs. In order:
  1. push PATH to <registry>/SERVICE under its content tag c-<hex> and the tags (default: the
     stack's name); nothing is uploaded when the registry already holds the image;
  2. in services/SERVICE/infra: pulumi stack select --create, pulumi config set image and
     imageDigest (plaintext stack config), pulumi up --yes, with the state on Scaleway Object
     Storage (nixway.yaml stateBucket);
  3. wait through the Scaleway API until the container is ready or in error (creating for 2-3
     minutes is normal; a spinner on a terminal, a line per status change otherwise);
  4. ready: GET https://<endpoint><health path> until it answers 2xx, and report the cold start;
     error, timeout or no 2xx: run every check of 'nixway diagnose' and exit 1.
It ends with the digest, tags, container id, status, URL and cold-start time.

Options:
  --stack STACK          the stack to deploy; required
  --archive PATH         the image: docker-archive (plain or .tar.gz) or image stream script; required
  --tag TAG              mutable tag to point at the image; repeatable (default: STACK)
  --json                 print {"service","stack","image","digest","contentTag","tags","uploaded",
                         "containerId","status","errorMessage","url","coldStartMs","health","diagnosis","ok"}
  --redeploy             ask Scaleway to deploy the container again after pulumi up (same image)
  --timeout SECONDS      how long to wait for ready or error (default 600)
  --no-smoke             on failure, do not run the image locally for the diagnosis
${REGISTRY_FLAGS_HELP}

Credentials: SCW_ACCESS_KEY and SCW_SECRET_KEY (or apiSecret in nixway.yaml); SCW_DEFAULT_PROJECT_ID,
SCW_DEFAULT_REGION, SCW_API_URL as for nixway status; PULUMI_CONFIG_PASSPHRASE for the stack's
secrets. The keys reach pulumi in its environment only (AWS_* for the state bucket, SCW_* for the
provider) and skopeo in a private auth file: never on a command line.

Exit status: 0 deployed and healthy, 1 failed (the diagnosis says why), 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const tls = takeTlsVerify("deploy", argv);
    const { values, positionals } = parseCommandArgs(
      "deploy",
      tls.argv,
      {
        ...REGISTRY_FLAGS,
        stack: { type: "string" },
        archive: { type: "string" },
        tag: { type: "string", multiple: true },
        json: { type: "boolean" },
        redeploy: { type: "boolean" },
        timeout: { type: "string" },
        "no-smoke": { type: "boolean" },
      },
      { min: 1, max: 1, names: "SERVICE" },
    );
    if (!values.stack) throw new UsageError("deploy: --stack STACK is required");
    if (!values.archive) throw new UsageError("deploy: --archive PATH is required (the image nix build produced, e.g. --archive result)");
    let timeoutMs: number | undefined;
    if (values.timeout !== undefined) {
      const s = Number(values.timeout);
      if (!Number.isInteger(s) || s < 10 || s > 3600) throw new UsageError(`deploy: --timeout takes whole seconds from 10 to 3600, not '${values.timeout}'`);
      timeoutMs = s * 1000;
    }
    const tags = values.tag?.map((t) => checkMutableTag(t, "--tag"));
    const root = findRoot(values.root);
    const { repo, service } = await loadService(root, positionals[0]);
    requireStack(service, values.stack, "deploy");
    const registry = values.registry !== undefined ? checkRegistry(values.registry) : repo.config.registry;
    if (!registry) throw new UsageError("deploy: no registry: set registryNamespace (or registry) in nixway.yaml, or pass --registry HOST/NAMESPACE");
    const certDir = values["cert-dir"] === undefined ? undefined : path.resolve(values["cert-dir"]);
    if (certDir !== undefined && !(existsSync(certDir) && statSync(certDir).isDirectory())) {
      throw new UsageError(`deploy: --cert-dir ${values["cert-dir"]}: no such directory`);
    }
    const { api, config } = await connectScaleway(repo.config, process.env, root);
    const tty = io === PROCESS_IO && process.stderr.isTTY === true;
    const progress = progressFor(io.stderr, tty);
    try {
      const result = await runDeploy({
        service,
        stack: values.stack,
        root,
        repoConfig: repo.config,
        archive: values.archive,
        scaleway: config,
        api,
        registry: { registry, secret: config.secretKey, tlsVerify: tls.tlsVerify, certDir, env: childEnv(repo.config) },
        tags,
        redeploy: values.redeploy,
        waitTimeoutMs: timeoutMs,
        smoke: !values["no-smoke"],
        progress,
        onPulumiOutput: (text) => io.stderr.write(text),
      });
      io.stdout.write(values.json ? JSON.stringify(result, null, 2) + "\n" : formatDeploy(result));
      return result.ok ? 0 : 1;
    } finally {
      progress.done();
    }
  },
};
