import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { UsageError } from "../diagnostics.ts";
import { REGISTRY_FLAGS, REGISTRY_FLAGS_HELP, registryOptionsFrom, SECRET_HELP, takeTlsVerify } from "../registry/cli-options.ts";
import { promoteTag } from "../registry/promote.ts";
import { checkMutableTag, imageRef, isDigest, isTag } from "../registry/reference.ts";
import { findRoot, loadService } from "../repo.ts";

export const command: Command = {
  name: "promote",
  summary: "point a tag at another tag's image in the registry (testing -> production), no blob moves",
  help: `Usage: nixway promote SERVICE --from TAG --to TAG [--json] [--registry HOST/NAMESPACE] [--tls-verify=false] [--cert-dir DIR] [--root DIR]

Points <registry>/SERVICE:TO at the image FROM points at, on the registry side: FROM's manifest is
read and PUT unchanged (same bytes, same media type) under TO, a few HTTP requests on one
connection; no layer is uploaded or downloaded, no skopeo runs, and the digest stays the same
(the registry's answer is checked). A multi-architecture FROM promotes its linux/amd64 image.
Refused when FROM does not exist. Prints TO's old and new digest. FROM may also be a content tag
(c-...) or a digest (sha256:...).

Options:
  --from TAG                 the tag (or content tag, or digest) to promote (required)
  --to TAG                   the tag to move, e.g. production (required)
${REGISTRY_FLAGS_HELP}
  --json                     print {"image","from","to","digest","previousDigest","changed"}

${SECRET_HELP}

Exit status: 0 promoted (or already there), 1 source missing or failed, 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const tls = takeTlsVerify("promote", argv);
    const { values, positionals } = parseCommandArgs(
      "promote",
      tls.argv,
      { ...REGISTRY_FLAGS, from: { type: "string" }, to: { type: "string" }, json: { type: "boolean" } },
      { min: 1, max: 1, names: "SERVICE" },
    );
    if (values.from === undefined || values.to === undefined) throw new UsageError("promote: both --from TAG and --to TAG are required");
    if (!isTag(values.from) && !isDigest(values.from)) throw new UsageError(`promote: --from ${JSON.stringify(values.from)} is neither a tag nor a digest`);
    const to = checkMutableTag(values.to, "--to");
    if (values.from === to) throw new UsageError(`promote: --from and --to are both '${to}'`);
    const root = findRoot(values.root);
    const { repo, service } = await loadService(root, positionals[0]);
    const opts = await registryOptionsFrom("promote", values, tls.tlsVerify, repo.config, root, io);
    const r = await promoteTag(opts, service.name, values.from, to);
    const image = imageRef(r.repository, to);
    if (values.json) {
      io.stdout.write(JSON.stringify({ image, from: r.from, to: r.to, digest: r.digest, previousDigest: r.previousDigest ?? null, changed: r.changed }) + "\n");
    } else {
      io.stdout.write(
        [
          `image  ${image}`,
          `old    ${r.previousDigest ?? "(none: new tag)"}`,
          `new    ${r.digest}${r.changed ? "" : " (unchanged: already there)"}`,
        ].join("\n") + "\n",
      );
    }
    return 0;
  },
};
