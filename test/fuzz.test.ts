// Property test: random mutations of valid service.yaml / nixway.yaml files never crash the validator.
// Each mutated repo gives exit 0 (clean output) or exit 1 with every diagnostic positioned inside the
// mutated file — never an internal error (exit 70), a stack trace or a Node warning.
// Seeded and bounded (FUZZ_CASES, default 400); FUZZ_SEED replays or explores another sequence.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { REPO_ROOT, runCli } from "./helpers/nixway-cli.ts";
import { makeRepo, removeRepo, writeFiles } from "./helpers/temp-repo.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0x6e6978);
const CASES = Number(process.env.FUZZ_CASES ?? 400);

/** mulberry32: small, fast, good enough to pick mutations, and reproducible from one number. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Seed {
  /** Where the mutated text is written: services/svc/service.yaml or nixway.yaml. */
  target: string;
  text: string;
}

function seeds(): Seed[] {
  const out: Seed[] = [];
  const service = (text: string) => ({ target: "services/svc/service.yaml", text });
  out.push(service(readFileSync(path.join(REPO_ROOT, "services/hello/service.yaml"), "utf8")));
  out.push(service(readFileSync(path.join(REPO_ROOT, "templates/service/service.yaml"), "utf8").replaceAll("__NAME__", "svc")));
  out.push({ target: "nixway.yaml", text: readFileSync(path.join(REPO_ROOT, "nixway.yaml"), "utf8") });
  const valid = path.join(REPO_ROOT, "test/fixtures/valid");
  for (const c of readdirSync(valid).sort()) {
    const dir = path.join(valid, c);
    for (const s of readdirSync(path.join(dir, "services")).sort()) {
      out.push(service(readFileSync(path.join(dir, "services", s, "service.yaml"), "utf8")));
    }
    try {
      out.push({ target: "nixway.yaml", text: readFileSync(path.join(dir, "nixway.yaml"), "utf8") });
    } catch {
      // this fixture has no nixway.yaml
    }
  }
  return out;
}

const VALUES = ["[]", "{}", "null", "~", "true", "-1", "0", "1e9", "3.5", '"str"', "''", "[a, b]", "{a: 1}", "0x1F", ".inf", "|\n  block", ">-", "*a", "&a x", "!!int 3", "!x y", "2001-12-14", '"\\u0000"', "'it''s'"];
const INSERTS = ["\t", "  ", "é", "\u200b", "🙂", "\uFEFF", "\u0000", "\u2028", "\r", ":", "- ", "[", "{", '"', "'", "#", "|", ">", "? ", "!", "%", "@", "`", "&a ", "*a", "<<: *a\n", "---\n", "...\n", ": ", ",", "\\"];

type Mutation = (text: string, rnd: () => number) => string | Buffer;

function pick<T>(xs: readonly T[], rnd: () => number): T {
  return xs[Math.floor(rnd() * xs.length)];
}

function mapLine(text: string, rnd: () => number, f: (line: string) => string): string {
  const lines = text.split("\n");
  const i = Math.floor(rnd() * lines.length);
  lines[i] = f(lines[i]);
  return lines.join("\n");
}

const MUTATIONS: Record<string, Mutation> = {
  changeType: (t, r) => mapLine(t, r, (l) => (/^(\s*[^#\s][^:]*):/.test(l) ? l.replace(/^(\s*[^#\s][^:]*):.*$/, `$1: ${pick(VALUES, r)}`) : l)),
  renameKey: (t, r) =>
    mapLine(t, r, (l) =>
      l.replace(/^(\s*)([A-Za-z_]+)(?=:)/, (_, ind: string, key: string) => {
        const i = Math.floor(r() * key.length);
        const edits = [key.slice(0, i) + key.slice(i + 1), key.toLowerCase(), key + "s", key.slice(0, i) + "x" + key.slice(i), key.toUpperCase()];
        return ind + pick(edits, r);
      }),
    ),
  deleteLine: (t, r) => {
    const lines = t.split("\n");
    lines.splice(Math.floor(r() * lines.length), 1);
    return lines.join("\n");
  },
  duplicateLine: (t, r) => {
    const lines = t.split("\n");
    const i = Math.floor(r() * lines.length);
    lines.splice(i + Math.floor(r() * 3), 0, lines[i]);
    return lines.join("\n");
  },
  swapLines: (t, r) => {
    const lines = t.split("\n");
    const i = Math.floor(r() * lines.length);
    const j = Math.floor(r() * lines.length);
    [lines[i], lines[j]] = [lines[j], lines[i]];
    return lines.join("\n");
  },
  breakIndent: (t, r) => mapLine(t, r, (l) => (r() < 0.5 ? " ".repeat(1 + Math.floor(r() * 3)) + l : l.replace(/^ {1,3}/, ""))),
  truncate: (t, r) => t.slice(0, Math.floor(r() * t.length)),
  insert: (t, r) => {
    const i = Math.floor(r() * (t.length + 1));
    return t.slice(0, i) + pick(INSERTS, r) + t.slice(i);
  },
  tabIndent: (t, r) => mapLine(t, r, (l) => l.replace(/^ +/, "\t")),
  anchorAlias: (t, r) => {
    const anchored = mapLine(t, r, (l) => l.replace(/^(\s*[A-Za-z_]+):\s*(\S.*)$/, "$1: &a $2"));
    return mapLine(anchored, r, (l) => l.replace(/^(\s*[A-Za-z_]+):\s*(\S.*)$/, `$1: ${pick(["*a", "*b", "[*a, *a]", "*a\n  extra: *a"], r)}`));
  },
  invalidUtf8: (t, r) => {
    const buf = Buffer.from(t);
    const i = Math.floor(r() * (buf.length + 1));
    return Buffer.concat([buf.subarray(0, i), Buffer.from([pick([0xff, 0xc3, 0xe9, 0x80, 0xed], r)]), buf.subarray(i)]);
  },
  crlf: (t) => t.replace(/\n/g, "\r\n"),
};

const NAMES = Object.keys(MUTATIONS).sort();

/** 1-3 mutations of one seed; the text as written (Buffer when it is no longer UTF-8). */
function mutate(seed: Seed, rnd: () => number): { bytes: string | Buffer; applied: string[] } {
  let text: string | Buffer = seed.text;
  const applied: string[] = [];
  const n = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const name = pick(NAMES, rnd);
    applied.push(name);
    // Text mutations after a byte-level one work on the lossy decoding; keep the invalid byte instead.
    if (Buffer.isBuffer(text)) break;
    text = MUTATIONS[name](text, rnd);
  }
  return { bytes: text, applied };
}

let root: string;
const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);

before(async () => {
  root = await makeRepo({
    "services/svc/app/index.ts": "export {};\n",
    "services/svc/src/server/main.ts": "export {};\n",
  });
  process.on("warning", onWarning);
});

after(async () => {
  process.off("warning", onWarning);
  await removeRepo(root);
});

test(`${CASES} mutated files: exit 0, or exit 1 with every diagnostic positioned in the file (seed ${SEED})`, async () => {
  const rnd = prng(SEED);
  const all = seeds();
  const validService = "name: svc\nport: 8080\napp:\n  entry: index.ts\n";
  const exits = { 0: 0, 1: 0 };
  for (let i = 0; i < CASES; i++) {
    const seed = pick(all, rnd);
    const { bytes, applied } = mutate(seed, rnd);
    const files: Record<string, string | Buffer> = { [seed.target]: bytes };
    files["services/svc/service.yaml"] ??= validService;
    files["nixway.yaml"] ??= "region: fr-par\n";
    await writeFiles(root, files);

    const r = await runCli(["validate", "--root", root]);
    const context = `case ${i} (seed ${SEED}, mutations ${applied.join("+")}) on ${seed.target}:\n${String(bytes)}\n--- stderr:\n${r.stderr}`;
    assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}; ${context}`);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, context);
    if (r.code === 0) {
      assert.equal(r.stderr, "", context);
      exits[0]++;
      continue;
    }
    exits[1]++;
    assert.equal(r.stdout, "", context);
    const text = Buffer.isBuffer(bytes) ? bytes.toString("utf8") : bytes;
    // Lines as the YAML parser counts them (LF; a CR before it is part of the line).
    const lines = text.split("\n");
    const out = r.stderr.trimEnd().split("\n");
    const count = out.pop() ?? "";
    assert.match(count, /^\d+ errors?$/, context);
    assert.ok(out.length >= 1, context);
    assert.equal(Number(count.split(" ")[0]), out.length, context);
    for (const d of out) {
      const m = /^(.+?):(\d+):(\d+): error: (.+)$/.exec(d);
      assert.ok(m, `unpositioned diagnostic '${d}'; ${context}`);
      const [, file, lineText, colText] = m;
      assert.equal(file, seed.target, context);
      const line = Number(lineText);
      const col = Number(colText);
      assert.ok(line >= 1 && line <= lines.length, `line ${line} outside 1-${lines.length}; ${context}`);
      assert.ok(col >= 1 && col <= lines[line - 1].length + 1, `col ${col} outside line ${line} (${lines[line - 1].length} chars); ${context}`);
    }
  }
  assert.deepEqual(warnings, [], "Node warnings were emitted");
  // The mutations are neither all harmless nor all fatal.
  assert.ok(exits[0] > 0 && exits[1] > CASES / 2, JSON.stringify(exits));
});
