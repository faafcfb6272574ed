// sluice: a real-time deep-learning pipeline for image streams.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/cli_support.h"

int main(int argc, char** argv) {
  CLI::App app{
      "sluice: a real-time deep-learning pipeline for image streams.\n"
      "Producers push image frames over TCP; sluice cuts the stream into micro-batches, decodes, "
      "preprocesses and\n"
      "classifies them, and writes one JSON line per frame.\n"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sluice 0.1.0");
  sluice::cli::register_serve(app);
  sluice::cli::register_send(app);
  sluice::cli::register_demo(app);
  sluice::cli::register_bench(app);
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
