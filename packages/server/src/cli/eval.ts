import { Command } from "commander";

export function evalCommand(): Command {
  return new Command("eval").description("(being built)").action(() => {
    process.stderr.write("intersebd eval: not available yet\n");
    process.exit(2);
  });
}
