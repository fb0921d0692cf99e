import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { formatImageSizes, imageSizes } from "../image/sizes.ts";
import { formatPlan, planJson, planService, selectStack } from "../plan.ts";
import { findRoot, loadService } from "../repo.ts";

export const command: Command = {
  name: "plan",
  summary: "show the resources a deploy would create, offline (Pulumi mocks; no credentials)",
  help: `Usage: nixway plan SERVICE [--stack STACK] [--json] [--image REF] [--archive PATH] [--root DIR]

Runs the service's generated Pulumi program (services/SERVICE/infra/index.ts) under Pulumi's
mocks, with no Pulumi CLI, credentials or network, and prints the resources a deploy of STACK
would create with their inputs (secrets as [secret], values known only after a deploy as
[computed]), plus the stack's cold-start posture: scale to zero, kept warm on a schedule
(wake-ups a day), or always warm (minScale >= 1).

Options:
  --stack STACK  the stack to plan (required when the service declares several)
  --json         print {"service","stack","image","posture","resources":[{"type","name","inputs"}],...}
  --image REF    plan this image, HOST/NAMESPACE/NAME:TAG[@sha256:DIGEST] (default: the image the
                 stack's last deploy set, else a placeholder for the next push)
  --archive PATH also show the image's size: each layer's estimated compressed (upload) size
                 and the total against imageSizeBudgetMB (PATH: the docker-archive nix build makes,
                 e.g. ./result of nix build .#SERVICE-image); JSON key "imageSize"
  --root DIR     repository root (default: nearest ancestor with nixway.yaml or services/)

The generated program must be current: run 'npx nixway generate' after editing service.yaml.
Exit status: 0 ok, 1 invalid input or failed run, 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const { values, positionals } = parseCommandArgs(
      "plan",
      argv,
      { stack: { type: "string" }, json: { type: "boolean" }, image: { type: "string" }, archive: { type: "string" }, root: { type: "string" } },
      { min: 1, max: 1, names: "SERVICE" },
    );
    const { repo, service } = await loadService(findRoot(values.root), positionals[0]);
    const stack = selectStack(service, values.stack);
    const plan = await planService(repo, service, stack, { image: values.image });
    const sizes = values.archive === undefined ? undefined : await imageSizes(values.archive, service.imageSizeBudgetMB);
    if (values.json) {
      io.stdout.write(JSON.stringify(sizes ? { ...planJson(plan), imageSize: sizes } : planJson(plan), null, 2) + "\n");
    } else {
      io.stdout.write(formatPlan(plan) + (sizes ? formatImageSizes(sizes).join("\n") + "\n" : ""));
    }
    return 0;
  },
};
