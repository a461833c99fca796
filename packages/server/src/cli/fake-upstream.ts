import { Command, InvalidArgumentError } from "commander";
import { startFakeUpstream } from "../testing/fake-upstream.ts";

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
    .action(async (flags: { port: number }) => {
      const fake = await startFakeUpstream({ port: flags.port, keepRequests: false });
      process.stdout.write(
        `fake upstream listening on ${fake.url}\n  try: INTERSEBD_UPSTREAM=${fake.url} npm start\n`,
      );
    });
}
