// A local stand-in for api.scaleway.com that serves real recorded traffic (go-vcr v2 cassettes in
// ../shared/fixtures/scaleway-api, recorded by the Scaleway Terraform provider's acceptance tests) to the
// real SDK client. Point SCW_API_URL / createClient({ apiURL }) at `url`.
//
// Matching: method + path + query (as a set of parameters). Repeated identical requests get the recorded
// answers in recorded order, so a polled container walks through its recorded statuses; past the last
// one the last answer repeats (the state the recording ended in).
//
// Two things are not recordings, and are named as such:
// - List endpoints the recordings never called (GET …/namespaces?name=…, …/containers?namespace_id=…)
//   are answered from the objects the recordings hold, in their current replay state, filtered by the
//   query like the API does. That is how nixway finds a container by name.
// - `faults` answer chosen requests with a given status first (e.g. the API's 409 transient_state),
//   for retry paths no recording contains.
// The cassette files are only read, never changed.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { ScalewayConfig } from "../../generator/scaleway/config.ts";
import { Secret } from "../../generator/secret.ts";

/** The recordings: vendored under test/fixtures/scaleway-api when present, else the team's shared copy. */
export const FIXTURES_DIR = [
  fileURLToPath(new URL("../fixtures/scaleway-api/", import.meta.url)),
  fileURLToPath(new URL("../../../shared/fixtures/scaleway-api/", import.meta.url)),
].find((d) => existsSync(d)) ?? fileURLToPath(new URL("../../../shared/fixtures/scaleway-api/", import.meta.url));

interface CassetteInteraction {
  id: number;
  request: { url: string; method: string; body?: string };
  response: { code: number; body: string };
}

export interface ReplayedRequest {
  method: string;
  path: string;
  query: string;
  authToken: string | undefined;
  body: string;
  /** How it was answered: the recorded interaction's id, "list" (synthesized), "fault", or "unmatched". */
  answeredBy: number | "list" | "fault" | "unmatched" | "unauthorized";
  status: number;
}

export interface Fault {
  method: string;
  /** Matched against the request path (a substring or a RegExp). */
  path: string | RegExp;
  /** How many matching requests get the fault before the recording takes over again. */
  times: number;
  status: number;
  body: unknown;
}

export interface ReplayOptions {
  /** Cassette names without the .cassette.yaml suffix, e.g. "container-basic". */
  cassettes: string[];
  /** When set, requests must carry this X-Auth-Token (the SDK sends the secret key), else 401 as the API does. */
  secretKey?: string;
  /** Drop each cassette's interactions from the first DELETE after its last creation (POST) on: the
   *  recording tool's cleanup of everything it made, which is not part of a deploy. */
  endBeforeTeardown?: boolean;
  faults?: Fault[];
}

export interface ReplayServer {
  url: string;
  requests: ReplayedRequest[];
  /** Requests no recording (nor list synthesis) could answer. */
  unmatched(): ReplayedRequest[];
  close(): Promise<void>;
}

interface RecordedAnswer {
  id: number;
  code: number;
  body: string;
}

/** A v1beta1/v1 resource path: …/regions/<region>/<collection>[/<id>]. */
const RESOURCE_PATH = /^(\/[a-z]+\/v[0-9a-z]+\/regions\/[a-z0-9-]+\/[a-z-]+)(?:\/([0-9a-f-]{36}))?$/;

function queryKey(search: URLSearchParams): string {
  return [...search.entries()].map(([k, v]) => `${k}=${v}`).sort().join("&");
}

export function loadCassette(name: string): CassetteInteraction[] {
  const file = path.join(FIXTURES_DIR, `${name}.cassette.yaml`);
  if (!existsSync(file)) throw new Error(`recording ${file} is missing: the Scaleway API recordings live in test/fixtures/scaleway-api or ../shared/fixtures/scaleway-api`);
  const doc = parse(readFileSync(file, "utf8")) as { version: number; interactions: CassetteInteraction[] };
  if (doc.version !== 2) throw new Error(`${file}: expected a go-vcr v2 cassette, found version ${doc.version}`);
  return doc.interactions;
}

export async function startReplayServer(options: ReplayOptions): Promise<ReplayServer> {
  const queues = new Map<string, { answers: RecordedAnswer[]; next: number }>();
  /** Current replay state of every recorded object, by collection path then id. */
  const objects = new Map<string, Map<string, { body: Record<string, unknown>; gone: boolean }>>();

  const remember = (collection: string, id: string, body: Record<string, unknown> | undefined, gone: boolean, overwrite: boolean) => {
    let byId = objects.get(collection);
    if (!byId) objects.set(collection, (byId = new Map()));
    const cur = byId.get(id);
    if (cur && !overwrite) return;
    byId.set(id, { body: body ?? cur?.body ?? {}, gone });
  };

  for (const name of options.cassettes) {
    let interactions = loadCassette(name);
    if (options.endBeforeTeardown) {
      const lastCreate = interactions.map((i) => i.request.method).lastIndexOf("POST");
      const teardown = interactions.findIndex((i, n) => n > lastCreate && i.request.method === "DELETE");
      if (teardown >= 0) interactions = interactions.slice(0, teardown);
    }
    for (const it of interactions) {
      const url = new URL(it.request.url);
      const key = `${it.request.method} ${url.pathname}?${queryKey(url.searchParams)}`;
      let q = queues.get(key);
      if (!q) queues.set(key, (q = { answers: [], next: 0 }));
      q.answers.push({ id: it.id, code: it.response.code, body: it.response.body });
      // Seed the objects lists answer from: each object's first recorded state.
      const m = RESOURCE_PATH.exec(url.pathname);
      const body = parseObject(it.response.body);
      if (m && it.response.code === 200 && body && typeof body.id === "string" && it.request.method !== "DELETE") {
        remember(m[1], body.id, body, false, false);
      }
    }
  }
  const faults = (options.faults ?? []).map((f) => ({ ...f, left: f.times }));
  const requests: ReplayedRequest[] = [];

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://replay.invalid");
      const token = req.headers["x-auth-token"];
      const entry: ReplayedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: queryKey(url.searchParams),
        authToken: typeof token === "string" ? token : undefined,
        body,
        answeredBy: "unmatched",
        status: 404,
      };
      requests.push(entry);
      const send = (status: number, payload: string, by: ReplayedRequest["answeredBy"]) => {
        entry.status = status;
        entry.answeredBy = by;
        res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) });
        res.end(payload);
      };

      if (options.secretKey !== undefined && entry.authToken !== options.secretKey) {
        // The API's answer to a missing or wrong key.
        send(401, JSON.stringify({ message: "authentication is denied", method: "api_key", reason: "invalid_argument", type: "denied_authentication" }), "unauthorized");
        return;
      }
      const fault = faults.find((f) => f.left > 0 && f.method === entry.method && (typeof f.path === "string" ? entry.path.includes(f.path) : f.path.test(entry.path)));
      if (fault) {
        fault.left--;
        send(fault.status, JSON.stringify(fault.body), "fault");
        return;
      }

      const key = `${entry.method} ${entry.path}?${entry.query}`;
      const q = queues.get(key);
      const m = RESOURCE_PATH.exec(entry.path);
      if (q) {
        const answer = q.answers[Math.min(q.next, q.answers.length - 1)];
        q.next++;
        if (m && m[2]) {
          const parsed = parseObject(answer.body);
          const gone = entry.method === "DELETE" || answer.code === 404;
          remember(m[1], m[2], answer.code === 200 ? parsed : undefined, gone, true);
        }
        send(answer.code, answer.body, answer.id);
        return;
      }
      if (entry.method === "GET" && m && !m[2]) {
        send(200, listAnswer(m[1], url.searchParams), "list");
        return;
      }
      send(404, JSON.stringify({ message: `replay: no recorded interaction for ${entry.method} ${entry.path}${entry.query ? `?${entry.query}` : ""}`, type: "not_found" }), "unmatched");
    });
  });

  /** The collection's objects in their current state, filtered the way the API filters lists. */
  function listAnswer(collection: string, query: URLSearchParams): string {
    const key = collection.slice(collection.lastIndexOf("/") + 1);
    const filters: [string, string][] = [];
    for (const [param, field] of [["name", "name"], ["namespace_id", "namespace_id"], ["project_id", "project_id"], ["container_id", "container_id"]] as const) {
      const v = query.get(param);
      if (v) filters.push([field, v]);
    }
    const items = [...(objects.get(collection)?.values() ?? [])]
      .filter((o) => !o.gone)
      .map((o) => o.body)
      .filter((b) => filters.every(([field, v]) => (field === "name" ? String(b.name ?? "").includes(v) : b[field] === v)));
    const pageSize = Number(query.get("page_size") ?? 0) || items.length || 1;
    const page = Number(query.get("page") ?? 1) || 1;
    const slice = items.slice((page - 1) * pageSize, page * pageSize);
    return JSON.stringify({ [key]: slice, total_count: items.length });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    unmatched: () => requests.filter((r) => r.answeredBy === "unmatched"),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Facts about a recording, read from the cassette itself so tests never hard-code what it holds. */
export function recordedContainers(name: string): { id: string; name: string; namespaceId: string; statuses: string[]; errorMessages: string[] }[] {
  const byId = new Map<string, { id: string; name: string; namespaceId: string; statuses: string[]; errorMessages: string[] }>();
  for (const it of loadCassette(name)) {
    const m = RESOURCE_PATH.exec(new URL(it.request.url).pathname);
    if (!m || !m[1].endsWith("/containers") || it.response.code !== 200) continue;
    const b = parseObject(it.response.body);
    if (!b || typeof b.id !== "string") continue;
    let c = byId.get(b.id);
    if (!c) byId.set(b.id, (c = { id: b.id, name: String(b.name), namespaceId: String(b.namespace_id), statuses: [], errorMessages: [] }));
    if (it.request.method === "GET") c.statuses.push(String(b.status));
    if (typeof b.error_message === "string" && b.error_message && !c.errorMessages.includes(b.error_message)) c.errorMessages.push(b.error_message);
  }
  return [...byId.values()];
}

export function recordedNamespace(name: string): { id: string; name: string } {
  for (const it of loadCassette(name)) {
    if (it.request.method === "POST" && new URL(it.request.url).pathname.endsWith("/namespaces")) {
      const b = parseObject(it.response.body);
      if (b) return { id: String(b.id), name: String(b.name) };
    }
  }
  throw new Error(`${name}: no namespace creation recorded`);
}

/** A well-formed fake API key (the SDK checks the formats) for talking to the replay server. */
export function fakeCredentials(): { accessKey: string; secretKey: string; projectId: string } {
  return { accessKey: "SCWREPLAY00000000000", secretKey: randomUUID(), projectId: "105bdce1-64c0-48ab-899d-868455867ecf" };
}

/** A ScalewayConfig for the API module pointed at a replay server. */
export function replayConfig(server: { url: string }, creds = fakeCredentials()): ScalewayConfig {
  return { accessKey: creds.accessKey, secretKey: new Secret(creds.secretKey), projectId: creds.projectId, region: "fr-par", apiUrl: server.url };
}
