// Every emitter of `nixway generate`, in one list. Each is pure (Repo in, GeneratedFile[] out);
// generator/write.ts is the only code that touches the disk.
import type { Repo } from "../model.ts";
import { emitDocs } from "./docs.ts";
import { emitNix } from "./nix.ts";
import { emitPulumiAll } from "./pulumi.ts";
import { emitScripts } from "./scripts.ts";
import type { GeneratedFile } from "./types.ts";

export type RepoEmitter = (repo: Repo) => GeneratedFile[];

export const EMITTERS: readonly { name: string; emit: RepoEmitter }[] = [
  // docs/service-yaml.md, from the schemas: the same for every repository.
  { name: "docs", emit: () => emitDocs() },
  { name: "nix", emit: emitNix },
  { name: "pulumi", emit: emitPulumiAll },
  { name: "scripts", emit: emitScripts },
];

/**
 * Every generated file of the repository, sorted by path. Two emitters claiming the same path is a
 * bug in nixway, not bad input: it throws.
 */
export function emitAll(repo: Repo): GeneratedFile[] {
  const byPath = new Map<string, { file: GeneratedFile; emitter: string }>();
  for (const { name, emit } of EMITTERS) {
    for (const file of emit(repo)) {
      const seen = byPath.get(file.path);
      if (seen) throw new Error(`emitters '${seen.emitter}' and '${name}' both generate ${file.path}`);
      byPath.set(file.path, { file, emitter: name });
    }
  }
  return [...byPath.values()].map((v) => v.file).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
