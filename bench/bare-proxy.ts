/**
 * The floor for any Node proxy on this machine: forward with a keep-alive agent, log nothing.
 * Usage: node bench/bare-proxy.ts <port> <upstream base, e.g. http://127.0.0.1:9999>
 */
import http from "node:http";

const [port, upstream] = [Number(process.argv[2]), new URL(process.argv[3] ?? "http://127.0.0.1:9999")];
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

http
  .createServer((req, res) => {
    const headers = { ...req.headers, host: upstream.host };
    delete headers.connection;
    const up = http.request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
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
  .listen(port, "127.0.0.1", () => process.stdout.write(`bare proxy on ${port}\n`));
