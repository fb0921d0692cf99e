// Synthetic repositories for the benchmarks: N copies of the example service (services/hello:
// its service.yaml and its app) under distinct names, next to a copy of the root nixway.yaml, in a
// temp directory. Only inputs: nothing generated is copied.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const EXAMPLE = path.join(REPO_ROOT, "services", "hello");

/** Service names are zero-padded so that directory order and name order agree. */
export function serviceName(i: number, n: number): string {
  return `svc-${String(i).padStart(Math.max(4, String(n).length), "0")}`;
}

function exampleYamlFor(name: string): string {
  const yaml = readFileSync(path.join(EXAMPLE, "service.yaml"), "utf8");
  const renamed = yaml.replace(/^name: hello$/m, `name: ${name}`);
  if (renamed === yaml) throw new Error(`bench: ${EXAMPLE}/service.yaml has no 'name: hello' line to rename`);
  return renamed;
}

/** Writes services/svc-0001 ... svc-N (copies of services/hello) into `root`. */
export function writeServices(root: string, n: number): string[] {
  const names: string[] = [];
  for (let i = 1; i <= n; i++) {
    const name = serviceName(i, n);
    const dir = path.join(root, "services", name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "service.yaml"), exampleYamlFor(name));
    cpSync(path.join(EXAMPLE, "app"), path.join(dir, "app"), { recursive: true });
    names.push(name);
  }
  return names;
}

export interface SyntheticRepo {
  root: string;
  services: string[];
  remove(): void;
}

/** A temp repository root with the example nixway.yaml (or `nixwayYaml`) and `n` services. */
export function makeSyntheticRepo(n: number, opts: { nixwayYaml?: string } = {}): SyntheticRepo {
  const root = mkdtempSync(path.join(os.tmpdir(), `nixway-bench-${n}-`));
  try {
    writeFileSync(path.join(root, "nixway.yaml"), opts.nixwayYaml ?? readFileSync(path.join(REPO_ROOT, "nixway.yaml"), "utf8"));
    const services = writeServices(root, n);
    return { root, services, remove: () => rmSync(root, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
