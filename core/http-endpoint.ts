// A daemon's HTTP side (--http HOST:PORT): /metrics in the Prometheus text
// format, /status.json with what the status page shows, and the page itself
// at /. Served by the daemon (Bun.serve); nothing to build, nothing fetched
// from elsewhere.
import type { Server } from "bun";
import { ErrorCode, GfsError } from "../net/errors";

export interface HttpEndpoints {
  metrics(): string;
  status?(): unknown;
  page?: string;
}

export function serveHttp(host: string, port: number, endpoints: HttpEndpoints): Server<undefined> {
  try {
    return Bun.serve({
      hostname: host,
      port,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (req.method !== "GET") return new Response("only GET\n", { status: 405 });
        if (path === "/metrics") return new Response(endpoints.metrics(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
        if (path === "/status.json" && endpoints.status) return Response.json(endpoints.status(), { headers: { "cache-control": "no-store" } });
        if (path === "/" && endpoints.page) return new Response(endpoints.page, { headers: { "content-type": "text/html; charset=utf-8" } });
        return new Response("not found\n", { status: 404 });
      },
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GfsError(ErrorCode.UNAVAILABLE, `cannot serve --http on ${host}:${port}: ${code === "EADDRINUSE" ? "the address is already in use (EADDRINUSE)" : (err as Error).message}`);
  }
}
