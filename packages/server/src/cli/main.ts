#!/usr/bin/env node
/**
 * The `intersebd` command line. Each subcommand lives in its own file; this one only wires them up.
 */
import { Command } from "commander";
import { conversationsCommand } from "./conversations.ts";
import { datasetsCommand } from "./datasets.ts";
import { eraseCommand } from "./erase.ts";
import { evalCommand } from "./eval.ts";
import { evaluatorsCommand } from "./evaluators.ts";
import { experimentsCommand } from "./experiments.ts";
import { exportCommand } from "./export.ts";
import { fakeUpstreamCommand } from "./fake-upstream.ts";
import { keysCommand } from "./keys.ts";
import { serveCommand } from "./serve.ts";

const program = new Command()
  .name("intersebd")
  .description("Log, link, annotate and reward the LLM calls of your service.\nDocs: README.md")
  .showHelpAfterError("(run with --help for usage)");

program.addCommand(serveCommand());
program.addCommand(exportCommand());
program.addCommand(datasetsCommand());
program.addCommand(evalCommand());
program.addCommand(experimentsCommand());
program.addCommand(evaluatorsCommand());
program.addCommand(conversationsCommand());
program.addCommand(eraseCommand());
program.addCommand(keysCommand());
program.addCommand(fakeUpstreamCommand());

await program.parseAsync(process.argv);
