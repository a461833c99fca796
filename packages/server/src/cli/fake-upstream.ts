import { Command, InvalidArgumentError } from "commander";
import { startFakeUpstream } from "../fake-upstream/index.ts";

export function fakeUpstreamCommand(): Command {
  return new Command("fake-upstream")
    .description("run a fake OpenAI-compatible server (echo answers, tool calls, errors) for demos and tests")
    .option(
      "-p, --port <port>",
      "port to listen on",
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535)
          throw new InvalidArgumentError("expected a port number");
        return n;
      },
      9999,
    )
    .option("--host <host>", "address to bind (0.0.0.0 to be reached from other containers)", "127.0.0.1")
    .action(async (flags: { port: number; host: string }) => {
      const fake = await startFakeUpstream({ port: flags.port, host: flags.host, keepRequests: false });
      process.stdout.write(
        `fake upstream listening on ${fake.url}\n  try: INTERSEBD_UPSTREAM=${fake.url} npm start\n`,
      );
    });
}
