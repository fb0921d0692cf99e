import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { REGISTRY_FLAGS, REGISTRY_FLAGS_HELP, registryOptionsFrom, SECRET_HELP, takeTlsVerify } from "../registry/cli-options.ts";
import { listTags } from "../registry/inspect.ts";
import { repositoryFor } from "../registry/reference.ts";
import { findRoot, loadService } from "../repo.ts";

export const command: Command = {
  name: "tags",
  summary: "list the tags of a service's image in the registry",
  help: `Usage: nixway tags SERVICE [--registry HOST/NAMESPACE] [--tls-verify=false] [--cert-dir DIR] [--root DIR] [--json]

Lists the tags of <registry>/SERVICE, sorted, one per line: the mutable ones (testing,
production...) and the content tags c-<20 hex> every push adds. Nothing when no image was pushed yet.

Options:
${REGISTRY_FLAGS_HELP}
  --json                     print {"repository","tags"}

${SECRET_HELP}

Exit status: 0 listed, 1 failed (registry down, unauthorized...), 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const tls = takeTlsVerify("tags", argv);
    const { values, positionals } = parseCommandArgs("tags", tls.argv, { ...REGISTRY_FLAGS, json: { type: "boolean" } }, { min: 1, max: 1, names: "SERVICE" });
    const root = findRoot(values.root);
    const { repo, service } = await loadService(root, positionals[0]);
    const opts = await registryOptionsFrom("tags", values, tls.tlsVerify, repo.config, root, io);
    const tags = await listTags(opts, service.name);
    const repository = repositoryFor(opts.registry, service.name);
    if (values.json) io.stdout.write(JSON.stringify({ repository, tags }) + "\n");
    else if (tags.length) io.stdout.write(tags.join("\n") + "\n");
    else io.stderr.write(`tags: ${repository} has no tags yet (push one: nixway push ${service.name} --archive PATH)\n`);
    return 0;
  },
};
