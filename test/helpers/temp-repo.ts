// Throwaway repository roots for tests: a temp directory filled from a map of relative path -> content.
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export type RepoFiles = Record<string, string | Buffer>;

/** The smallest valid service, as files of a repo: services/<name>/service.yaml and its app entry. */
export function minimalService(name: string, yaml = `name: ${name}\nport: 8080\napp:\n  entry: index.ts\n`): RepoFiles {
  return {
    [`services/${name}/service.yaml`]: yaml,
    [`services/${name}/app/index.ts`]: "export {};\n",
  };
}

export async function makeRepo(files: RepoFiles): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), "nixway-test-"));
  await writeFiles(root, files);
  return root;
}

export async function writeFiles(root: string, files: RepoFiles): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }
}

export async function removeRepo(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** Runs `fn` on a fresh repo made of `files`, then removes it. */
export async function withRepo<T>(files: RepoFiles, fn: (root: string) => Promise<T>): Promise<T> {
  const root = await makeRepo(files);
  try {
    return await fn(root);
  } finally {
    await removeRepo(root);
  }
}
