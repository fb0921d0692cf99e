import { parseCommandArgs } from "../args.ts";
import { PROCESS_IO, type Command } from "../command.ts";
import { UsageError } from "../diagnostics.ts";
import { REGISTRY_FLAGS, REGISTRY_FLAGS_HELP, registryOptionsFrom, SECRET_HELP, takeTlsVerify } from "../registry/cli-options.ts";
import { formatBytes } from "../registry/format.ts";
import { inspectImage } from "../registry/inspect.ts";
import { isDigest, isTag } from "../registry/reference.ts";
import { findRoot, loadService } from "../repo.ts";

export const DEFAULT_INSPECT_TAG = "testing";

/** SERVICE, SERVICE:TAG or SERVICE@sha256:... */
function splitTarget(target: string): { service: string; ref: string } {
  const at = target.indexOf("@");
  if (at >= 0) {
    const ref = target.slice(at + 1);
    if (!isDigest(ref)) throw new UsageError(`inspect: '${ref}' is not a digest (sha256:<64 hex>)`);
    return { service: target.slice(0, at), ref };
  }
  const colon = target.indexOf(":");
  if (colon < 0) return { service: target, ref: DEFAULT_INSPECT_TAG };
  const ref = target.slice(colon + 1);
  if (!isTag(ref)) throw new UsageError(`inspect: '${ref}' is not a valid tag`);
  return { service: target.slice(0, colon), ref };
}

export const command: Command = {
  name: "inspect",
  summary: "show an image in the registry: digest, architecture, Cmd, ports, layer sizes",
  help: `Usage: nixway inspect SERVICE[:TAG|@DIGEST] [--json] [--registry HOST/NAMESPACE] [--tls-verify=false] [--cert-dir DIR] [--root DIR]

Shows <registry>/SERVICE:TAG (default tag: ${DEFAULT_INSPECT_TAG}): manifest digest, creation time,
architecture, Cmd, exposed ports, and each layer with its compressed size, plus the total.

Options:
${REGISTRY_FLAGS_HELP}
  --json                     print {"image","digest","configDigest","created","architecture","os","layers":[{"digest","size","mediaType"}],
                             "size","exposedPorts","cmd","entrypoint"} (sizes in bytes)

${SECRET_HELP}

Exit status: 0 shown, 1 not found or failed (registry down, unauthorized...), 2 usage error.
`,
  async run(argv, io = PROCESS_IO) {
    const tls = takeTlsVerify("inspect", argv);
    const { values, positionals } = parseCommandArgs("inspect", tls.argv, { ...REGISTRY_FLAGS, json: { type: "boolean" } }, { min: 1, max: 1, names: "SERVICE[:TAG]" });
    const target = splitTarget(positionals[0]);
    const root = findRoot(values.root);
    const { repo, service } = await loadService(root, target.service);
    const opts = await registryOptionsFrom("inspect", values, tls.tlsVerify, repo.config, root, io);
    const info = await inspectImage(opts, service.name, target.ref);
    if (values.json) {
      io.stdout.write(JSON.stringify(info) + "\n");
      return 0;
    }
    const command = [...info.entrypoint, ...info.cmd];
    const lines = [
      `image         ${info.image}`,
      `digest        ${info.digest}`,
      `created       ${info.created ?? "(not set)"}`,
      `architecture  ${info.os ? `${info.os}/` : ""}${info.architecture || "(not set)"}`,
      `cmd           ${command.length ? command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ") : "(none)"}`,
      `exposed ports ${info.exposedPorts.join(" ") || "(none)"}`,
      `layers        ${info.layers.length} (compressed sizes)`,
    ];
    const width = Math.max(...info.layers.map((l) => formatBytes(l.size).length), 1);
    for (const [i, l] of info.layers.entries()) lines.push(`  ${String(i + 1).padStart(3)}  ${formatBytes(l.size).padStart(width)}  ${l.digest}`);
    lines.push(`size          ${formatBytes(info.size)} compressed`);
    io.stdout.write(lines.join("\n") + "\n");
    return 0;
  },
};
