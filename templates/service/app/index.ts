// A Bun HTTP service. Scaleway passes the port in $PORT; bind 0.0.0.0 so the platform can reach it.
const port = Number(process.env.PORT ?? 8080);

const server = Bun.serve({
  hostname: "0.0.0.0",
  port,
  fetch(request: Request): Response {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    if (url.pathname === "/") return new Response("hello from __NAME__\n");
    return new Response("not found\n", { status: 404 });
  },
});

console.log(`__NAME__ listening on ${server.hostname}:${server.port}`);
