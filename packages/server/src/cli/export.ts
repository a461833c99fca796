import { Command } from "commander";

export function exportCommand(): Command {
  return new Command("export").description("(being built)").action(() => {
    process.stderr.write("intersebd export: not available yet\n");
    process.exit(2);
  });
}
