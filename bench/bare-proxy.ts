/**
 * The floor for any Node proxy on this machine: forward with a keep-alive agent, log nothing.
 * Usage: node bench/bare-proxy.ts <port> <upstream base, e.g. http://127.0.0.1:9999> [processes]
 * With a process count above 1 it runs as many on one port through node:cluster, as `serve --workers N` does
 * (bench/scaling.ts compares the two).
 */
import cluster from "node:cluster";
import http from "node:http";

const [port, upstream] = [Number(process.argv[2]), new URL(process.argv[3] ?? "http://127.0.0.1:9999")];
const processes = Number(process.argv[4] ?? 1);

if (processes > 1 && cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  let listening = 0;
  cluster.on("listening", () => {
    if (++listening === processes) process.stdout.write(`bare proxy on ${port} (${processes} processes)\n`);
  });
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  http
    .createServer((req, res) => {
      const headers = { ...req.headers, host: upstream.host };
      delete headers.connection;
      const up = http.request(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
          agent,
        },
        (ures) => {
          res.writeHead(ures.statusCode ?? 502, ures.headers);
          ures.pipe(res);
        },
      );
      up.on("error", () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(up);
    })
    .listen(port, "127.0.0.1", () => {
      if (processes === 1) process.stdout.write(`bare proxy on ${port}\n`);
    });
}
