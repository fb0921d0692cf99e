// An HTTPS proxy in front of the test registry that can misbehave on purpose: answer a request
// itself with a 5xx or 429, drop the connection, or hold the request without answering (to stop a
// push midway). It terminates TLS with the registry's own certificate (valid for 127.0.0.1 on any
// port) and forwards to the registry over TLS, keeping the Host header so the upload URLs the
// registry hands out point back at the proxy.
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type net from "node:net";

export type FaultAction =
  | "forward"
  /** Destroy the client connection without an answer. */
  | "drop"
  /** Never answer (until the proxy closes). */
  | "stall"
  | { status: number; headers?: Record<string, string>; body?: string };

export interface ProxiedRequest {
  method: string;
  url: string;
  action: "forward" | "drop" | "stall" | number;
}

export type FaultRule = (req: { method: string; url: string; index: number }) => FaultAction;

export interface FaultProxy {
  host: string;
  port: number;
  /** Decides what happens to each request from now on (default: forward everything). */
  setRule(rule: FaultRule): void;
  /** Every request seen, with what the proxy did. */
  requests: ProxiedRequest[];
  /** Resolves with the first request (seen from now on, or already seen) matching `pred`. */
  waitFor(pred: (r: ProxiedRequest) => boolean, timeoutMs?: number): Promise<ProxiedRequest>;
  close(): Promise<void>;
}

export const forwardAll: FaultRule = () => "forward";

/** A rule answering `action` to the first `times` requests matching `match`, forwarding everything else. */
export function failFirst(times: number, match: (m: string, u: string) => boolean, action: FaultAction): FaultRule {
  let n = 0;
  return ({ method, url }) => {
    if (match(method, url) && n < times) {
      n++;
      return action;
    }
    return "forward";
  };
}

export async function startFaultProxy(upstream: { port: number; ca: string }, tls: { cert: string; key: string }): Promise<FaultProxy> {
  let rule: FaultRule = forwardAll;
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<net.Socket>();
  const waiters: { pred: (r: ProxiedRequest) => boolean; resolve: (r: ProxiedRequest) => void }[] = [];
  const agent = new https.Agent({ keepAlive: true, ca: upstream.ca });

  const record = (r: ProxiedRequest) => {
    requests.push(r);
    for (const w of [...waiters]) {
      if (w.pred(r)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r);
      }
    }
  };

  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const action = rule({ method, url, index: requests.length });
    if (action === "drop") {
      record({ method, url, action: "drop" });
      req.socket.destroy();
      return;
    }
    if (action === "stall") {
      record({ method, url, action: "stall" });
      req.resume(); // swallow the body, answer nothing
      return;
    }
    if (typeof action === "object") {
      record({ method, url, action: action.status });
      req.resume();
      // What real registries and load balancers answer: the distribution spec's TOOMANYREQUESTS error
      // for 429, a bare HTML page for 5xx from a proxy in front of the registry.
      const json = action.status === 429;
      const body =
        action.body ??
        (json
          ? JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "too many requests", detail: null }] })
          : `<html><body><h1>${action.status}</h1>injected by the test proxy</body></html>`);
      res.writeHead(action.status, {
        "content-type": json ? "application/json" : "text/html",
        "content-length": Buffer.byteLength(body),
        ...action.headers,
      });
      res.end(body);
      return;
    }
    record({ method, url, action: "forward" });
    const up = https.request(
      { host: "127.0.0.1", port: upstream.port, method, path: url, headers: req.headers, agent },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on("error", () => req.socket.destroy());
    req.pipe(up);
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("tlsClientError", () => {
    /* a client giving up mid-handshake is not the proxy's problem */
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    setRule(r) {
      rule = r;
    },
    waitFor(pred, timeoutMs = 30_000) {
      const hit = requests.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (r: ProxiedRequest) => {
            clearTimeout(t);
            resolve(r);
          },
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`fault proxy: no matching request within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
