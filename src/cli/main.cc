// sluice: a real-time deep-learning pipeline for image streams.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_support.h"
#include "cli/redis_options.h"
#include "sluice/version.h"

namespace {
// Every command. `sluice config --print` builds a second app from this same list.
void add_commands(CLI::App& app) {
  sluice::cli::register_serve(app);
  sluice::cli::register_send(app);
  sluice::cli::register_demo(app);
  sluice::cli::register_bench(app);
  sluice::cli::register_ingest(app);
  sluice::cli::register_worker(app);
  sluice::cli::register_results(app);
  sluice::cli::register_config(app, add_commands);  // last: it adds --config to the commands above
}
}  // namespace

int main(int argc, char** argv) {
  // Payloads of 64 KiB and more get their own mappings, returned to the OS when freed. glibc
  // otherwise raises this threshold after the first such free and serves later payloads from
  // heap arenas that fragment and keep resident memory above the --memory-budget accounting.
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  CLI::App app{
      "sluice: a real-time deep-learning pipeline for image streams.\n"
      "Producers push image frames over TCP; sluice cuts the stream into micro-batches, decodes, "
      "preprocesses and\n"
      "classifies them, and writes one JSON line per frame.\n"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sluice " + std::string(sluice::kVersion));
  add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
