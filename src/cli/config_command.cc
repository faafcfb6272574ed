// sluice config --print COMMAND [OPTIONS...]: the effective configuration of a command.
#include <algorithm>
#include <functional>
#include <memory>

#include "cli/cli_support.h"
#include "cli/config_file.h"

namespace sluice::cli {

void register_config(CLI::App& app, const std::function<void(CLI::App&)>& add_commands) {
  auto* cmd = app.add_subcommand(
      "config",
      "Show a command's effective configuration as YAML: its defaults, overridden by a --config file, "
      "overridden by the options given");
  auto print = std::make_shared<bool>(false);
  cmd->add_flag("--print", *print,
                "Print the effective configuration of the command that follows (its options may follow it)")
      ->required();
  cmd->prefix_command();  // everything after the flags is the command to print, with its options
  cmd->footer(
      "Examples:\n"
      "  sluice config --print serve --config examples/serve.yaml\n"
      "  sluice config --print send --config examples/send.toml --rate 500\n"
      "The output is itself a config file: sluice serve --config printed.yaml");
  cmd->callback([cmd, print, add_commands] {
    auto args = cmd->remaining();
    if (args.empty()) {
      throw CLI::ValidationError(
          "config", "name the command to print, as in: sluice config --print serve --config FILE");
    }
    // The same commands in a second app, parsed as `sluice COMMAND ... --print-config`: it prints
    // and ends with CLI::Success, which main() turns into exit code 0.
    CLI::App inner{"sluice"};
    inner.require_subcommand(1);
    add_commands(inner);
    args.push_back("--print-config");
    std::reverse(args.begin(), args.end());
    inner.parse(args);
  });
  install_config_files(app);
}

}  // namespace sluice::cli
