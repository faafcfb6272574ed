// sluice bench decode: decode + preprocess throughput on one thread, with and without DCT scaling.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli_support.h"
#include "model/backend.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"

namespace sluice::cli {
namespace {

struct DecodeBenchOptions {
  ModelOptions model;
  std::string images;
  double seconds = 3.0;
  std::string csv;
};

std::vector<std::vector<std::uint8_t>> read_images(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(fmt::format("--images {}: no .jpg, .jpeg or .png file", dir));
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

int run_decode_bench(const DecodeBenchOptions& opts) {
  setup_logging("warn", false);
  const auto bundle = opts.model.load();
  if (!bundle.preprocess)
    throw std::runtime_error("the model bundle declares no preprocessing (use --preprocess)");
  // The input shape: the bundle's, or the model's own (a bare .onnx file).
  model::ModelShape shape;
  if (bundle.input_chw.size() == 3) {
    shape.channels = static_cast<int>(bundle.input_chw[0]);
    shape.height = static_cast<int>(bundle.input_chw[1]);
    shape.width = static_cast<int>(bundle.input_chw[2]);
  } else {
    auto backend = model::create_backend(bundle, {1, 1});
    if (!backend) throw std::runtime_error(backend.status().to_string());
    shape = (*backend)->shape();
  }
  const auto& spec = *bundle.preprocess;
  auto pre = vision::Preprocessor::create(spec, shape.channels, shape.height, shape.width);
  if (!pre) throw std::runtime_error(pre.status().to_string());
  const auto images = read_images(opts.images);
  std::vector<float> tensor(pre->tensor_elements());
  std::string csv = "dct_scaling,images,images_per_second,ms_per_image\n";
  std::printf("%d images from %s, one thread\n%12s %14s %14s\n", static_cast<int>(images.size()),
              opts.images.c_str(), "dct_scaling", "images/s", "ms/image");
  for (const bool scaling : {false, true}) {
    vision::ImageDecoder decoder;
    decoder.set_scaling_target(scaling ? &spec : nullptr);
    vision::DecodedImage image;
    const auto once = [&](const std::vector<std::uint8_t>& bytes) {
      if (auto st = decoder.decode(bytes, spec.channels(), image); !st)
        throw std::runtime_error(st.to_string());
      if (auto st = pre->run(image, tensor); !st) throw std::runtime_error(st.to_string());
    };
    for (const auto& bytes : images) once(bytes);  // warm-up
    std::size_t n = 0;
    double elapsed = 0;
    const auto start = std::chrono::steady_clock::now();
    do {
      once(images[n % images.size()]);
      ++n;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < opts.seconds);
    const double ips = static_cast<double>(n) / elapsed;
    std::printf("%12s %14.1f %14.3f\n", scaling ? "on" : "off", ips, 1000.0 / ips);
    csv += fmt::format("{},{},{:.1f},{:.4f}\n", scaling ? "on" : "off", n, ips, 1000.0 / ips);
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
