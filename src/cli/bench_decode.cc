// sluice bench decode: decode + preprocess throughput on one thread, with and without DCT scaling.
#include <cstdio>
#include <fstream>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/bench_support.h"
#include "cli/cli_support.h"
#include "vision/image_decoder.h"

namespace sluice::cli {
namespace {

struct DecodeBenchOptions {
  ModelOptions model;
  std::string images;
  double seconds = 3.0;
  std::string csv;
};

int run_decode_bench(const DecodeBenchOptions& opts) {
  setup_logging("warn", false);
  const auto bundle = opts.model.load();
  if (!bundle.preprocess)
    throw std::runtime_error("the model bundle declares no preprocessing (use --preprocess)");
  const auto images = read_image_dir(opts.images);
  std::vector<std::span<const std::uint8_t>> views(images.begin(), images.end());
  std::string csv = "dct_scaling,images,images_per_second,ms_per_image\n";
  std::printf("%d images from %s, one thread\n%12s %14s %14s\n", static_cast<int>(images.size()),
              opts.images.c_str(), "dct_scaling", "images/s", "ms/image");
  for (const bool scaling : {false, true}) {
    const auto t = time_decode_preprocess(bundle, views, scaling, vision::kDefaultMaxPixels, opts.seconds);
    const double ips = t.per_second();
    std::printf("%12s %14.1f %14.3f\n", scaling ? "on" : "off", ips, 1000.0 / ips);
    csv += fmt::format("{},{},{:.1f},{:.4f}\n", scaling ? "on" : "off", t.items, ips, 1000.0 / ips);
  }
  if (!opts.csv.empty()) {
    std::ofstream(opts.csv) << csv;
    std::printf("wrote %s\n", opts.csv.c_str());
  }
  return 0;
}

}  // namespace

void register_bench_decode(CLI::App& bench) {
  auto opts = std::make_shared<DecodeBenchOptions>();
  auto* cmd = bench.add_subcommand(
      "decode", "Decode + preprocess images/s on one thread, with and without DCT scaling");
  opts->model.add_to(*cmd, /*model_required=*/true);
  cmd->add_option("--images", opts->images, "Folder of JPEG/PNG images, cycled")->required();
  cmd->add_option("--seconds", opts->seconds, "Measuring time per setting, in seconds")
      ->capture_default_str();
  cmd->add_option("--csv", opts->csv, "Also write the figures to this CSV file");
  cmd->callback([opts] {
    if (const int rc = run_decode_bench(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
