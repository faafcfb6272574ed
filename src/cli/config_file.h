// Config files for every command: `sluice CMD --config FILE` reads the command's options from a
// YAML file (or TOML, for *.toml), keyed by their long names without the dashes. Flags given on
// the command line win over the file, and the file over the defaults. `--print-config` prints the
// effective configuration as YAML and exits; `sluice config --print CMD ...` does the same.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace sluice::cli {

/// Adds --config and --print-config to every command of `root` and fills in each option's
/// default for --help. Call it once, after every command is registered: it covers whatever
/// options the commands have then, so new options need no work here.
void install_config_files(CLI::App& root);

/// The effective configuration of a parsed command, as YAML that --config reads back.
std::string effective_config_yaml(const CLI::App& command);

/// Reads config files for the command that was parsed under `root`. An unknown key, a nested
/// table or a malformed file is a CLI::ConfigError that names the file, the line and the key.
class FileConfig final : public CLI::Config {
 public:
  explicit FileConfig(const CLI::App& root) : root_(root) {}
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  const CLI::App& root_;
};

}  // namespace sluice::cli
