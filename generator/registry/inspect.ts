// `nixway inspect` and the look-ups deploy and diagnose need: what a tag points at, and what the
// image is (architecture, Cmd, exposed ports, layers with their compressed sizes). Manifest and
// config are two HTTP requests on one connection; the tag list still comes from skopeo.
import { RegistryError } from "./errors.ts";
import { repositoryName } from "./http.ts";
import { fetchConfig, fetchManifest, type ManifestLayer } from "./manifest.ts";
import { imageRef, repositoryFor } from "./reference.ts";
import { withRegistry, withSkopeo, type RegistryOptions } from "./session.ts";

export interface ImageInfo {
  /** The reference inspected, e.g. rg.fr-par.scw.cloud/ns/hello:testing. */
  image: string;
  /** Manifest digest. */
  digest: string;
  configDigest: string;
  /** Config `created` (nix images: 1970-01-01T00:00:01Z unless set), or undefined when absent. */
  created: string | undefined;
  architecture: string;
  os: string;
  /** Layers in order, with their compressed sizes in the registry. */
  layers: ManifestLayer[];
  /** Total compressed size of the layers, bytes. */
  size: number;
  /** e.g. ["8080/tcp"], sorted. */
  exposedPorts: string[];
  cmd: string[];
  entrypoint: string[];
}

/** Thrown by inspectImage when the tag or digest does not exist. */
export class ImageNotFoundError extends RegistryError {
  constructor(image: string, host: string) {
    super("not-found", `${image} does not exist in registry ${host}: check the tag (nixway tags SERVICE lists them) or push it (nixway push SERVICE --archive ...)`, "manifest unknown");
    this.name = "ImageNotFoundError";
  }
}

/** Manifest + config of `<registry>/<service>:<tagOrDigest>`. Throws ImageNotFoundError when missing. */
export async function inspectImage(opts: RegistryOptions, service: string, tagOrDigest: string): Promise<ImageInfo> {
  const repository = repositoryFor(opts.registry, service);
  const image = imageRef(repository, tagOrDigest);
  return withRegistry(opts, false, async ({ http, host }) => {
    const name = repositoryName(repository, host);
    const manifest = await fetchManifest(http, repository, name, tagOrDigest);
    if (!manifest) throw new ImageNotFoundError(image, host);
    const config = await fetchConfig(http, repository, name, manifest.configDigest);
    return {
      image,
      digest: manifest.digest,
      configDigest: manifest.configDigest,
      created: typeof config.created === "string" ? config.created : undefined,
      architecture: config.architecture ?? "",
      os: config.os ?? "",
      layers: manifest.layers,
      size: manifest.layers.reduce((n, l) => n + (Number.isFinite(l.size) ? l.size : 0), 0),
      exposedPorts: Object.keys(config.config?.ExposedPorts ?? {}).sort(),
      cmd: config.config?.Cmd ?? [],
      entrypoint: config.config?.Entrypoint ?? [],
    };
  });
}

/** The manifest digest `<registry>/<service>:<tag>` points at, or undefined when the tag (or the repository) does not exist. */
export async function resolveTagDigest(opts: RegistryOptions, service: string, tag: string): Promise<string | undefined> {
  const repository = repositoryFor(opts.registry, service);
  return withRegistry(opts, false, async ({ http, host }) => (await fetchManifest(http, repository, repositoryName(repository, host), tag))?.digest);
}

/** Every tag of `<registry>/<service>`, sorted; [] when the repository does not exist yet. */
export async function listTags(opts: RegistryOptions, service: string): Promise<string[]> {
  const repository = repositoryFor(opts.registry, service);
  const { listTagsArgs, skopeo } = await import("./skopeo.ts");
  return withSkopeo(opts, async (ctx, host) => {
    let out: string;
    try {
      out = (await skopeo(ctx, { args: listTagsArgs(ctx, repository), host, what: `list the tags of ${repository}`, timeoutMs: 120_000 })).stdout;
    } catch (err) {
      if (err instanceof RegistryError && err.kind === "not-found") return [];
      throw err;
    }
    const parsed = JSON.parse(out) as { Tags?: string[] | null };
    return [...(parsed.Tags ?? [])].sort();
  });
}
