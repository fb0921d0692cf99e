// Example nixway service: Bun.serve on $PORT with a health endpoint.
// Scaleway passes the port in $PORT and routes to 0.0.0.0, so bind there.
const port = Number(process.env.PORT ?? 8080);
const greeting = process.env.GREETING ?? "hello";

const server = Bun.serve({
  hostname: "0.0.0.0",
  port,
  fetch(request: Request): Response {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/health":
        return Response.json({ status: "ok" });
      case "/":
        return new Response(`${greeting}\n`);
      default:
        return new Response("not found\n", { status: 404 });
    }
  },
});

console.log(`hello listening on ${server.hostname}:${server.port}`);
