import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { UsageError } from "../diagnostics.ts";
import { diagnosticAt } from "../load.ts";
import { lazyRegistryOptionsFrom, REGISTRY_FLAGS, REGISTRY_FLAGS_HELP, SECRET_HELP, takeTlsVerify } from "../registry/cli-options.ts";
import { pushImage } from "../registry/push.ts";
import { findRoot, loadService } from "../repo.ts";

export const command: Command = {
  name: "push",
  summary: "push a built image to the registry under its content tag and the given tags",
  help: `Usage: nixway push SERVICE --archive PATH [--tag TAG]... [--registry HOST/NAMESPACE]
                   [--tls-verify=false] [--cert-dir DIR] [--root DIR] [--json]

Pushes the image in PATH (a docker-archive as nix build makes it, plain or .tar.gz, or the
executable an image stream script is, which is run to produce it) to <registry>/SERVICE.

Every push gets an immutable content tag c-<first 20 hex of the image config digest>, then the
mutable tags (default: testing) are pointed at it. If the content tag already holds this image,
no blob is uploaded: only the mutable tags move. The content tag is written first, so a push
that is interrupted never leaves a mutable tag pointing at a partial image; run it again to finish.

Refused before anything is uploaded: an image that is not linux/amd64 (Scaleway runs x86_64),
and one whose compressed size is over the service's imageSizeBudgetMB (the largest layers are named).
Rate limits (429), server errors (5xx) and dropped connections are retried with backoff, a few times.

Options:
  --archive PATH             the image: docker-archive file or image stream script (required)
  --tag TAG                  mutable tag to move to the image; repeatable (default: testing)
${REGISTRY_FLAGS_HELP}
  --json                     print {"image","digest","contentTag","tags","uploaded","configDigest"}

${SECRET_HELP}

Exit status: 0 pushed, 1 refused or failed (registry down, unauthorized...), 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const tls = takeTlsVerify("push", argv);
    const { values, positionals } = parseCommandArgs(
      "push",
      tls.argv,
      { ...REGISTRY_FLAGS, archive: { type: "string" }, tag: { type: "string", multiple: true }, json: { type: "boolean" } },
      { min: 1, max: 1, names: "SERVICE" },
    );
    if (values.archive === undefined) {
      throw new UsageError("push: missing --archive PATH (the image nix build produced, e.g. --archive result)");
    }
    const root = findRoot(values.root);
    const { repo, service } = await loadService(root, positionals[0]);
    const loaded = repo.sources.get(service.name);
    const budgetAt =
      service.imageSizeBudgetMB !== undefined && loaded ? diagnosticAt(loaded, ["imageSizeBudgetMB"], "") : undefined;
    const opts = lazyRegistryOptionsFrom("push", values, tls.tlsVerify, repo.config, root, io);
    const result = await pushImage({
      ...opts,
      service: service.name,
      archive: values.archive,
      tags: values.tag,
      sizeBudgetMB: service.imageSizeBudgetMB,
      budgetAt: budgetAt && { file: budgetAt.file, line: budgetAt.line, col: budgetAt.col },
    });
    if (values.json) {
      const { image, digest, contentTag, tags, uploaded, configDigest } = result;
      io.stdout.write(JSON.stringify({ image, digest, contentTag, tags, uploaded, configDigest }) + "\n");
    } else {
      io.stdout.write(
        [
          `image   ${result.image}`,
          `digest  ${result.digest}`,
          `tags    ${[result.contentTag, ...result.tags].join(" ")}`,
          `upload  ${result.uploaded ? "yes" : "none (the registry already had this image; only the tags moved)"}`,
        ].join("\n") + "\n",
      );
    }
    return 0;
  },
};
