// sluice bench decode: on one thread, decode alone against decode + exact preprocessing (the
// ratio is the preprocessing's cost), and the DCT-scaling opt-in's speed and top-1 agreement with
// the exact path. Settings run in interleaved rounds, so machine noise hits them alike.
#include <time.h>
#include <turbojpeg.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/bench_support.h"
#include "cli/cli_support.h"
#include "model/backend.h"
#include "util/cpu_features.h"
#include "vision/antialiased_resize.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"
#include "vision/simd_target.h"

namespace sluice::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

struct DecodeBenchOptions {
  ModelOptions model;
  std::string images;
  double seconds = 3.0;
  int rounds = 5;
  std::string simd = "best";
  std::string csv;
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// One setting: what it does to one image, and the time and count it has run so far.
struct Setting {
  Setting(std::string k, std::string n, std::function<void(std::span<const std::uint8_t>)> f,
          std::int64_t target = 0)
      : key(std::move(k)), name(std::move(n)), once(std::move(f)), simd_target(target) {}
  std::string key;  // the CSV's name for it
  std::string name;
  std::function<void(std::span<const std::uint8_t>)> once;
  std::int64_t simd_target = 0;  // the resize kernels' target while it runs; 0 = as it is
  double seconds = 0.0;          // wall clock
  double cpu_seconds = 0.0;      // this thread's CPU time: what other processes on the machine do not inflate
  std::uint64_t items = 0;
  std::vector<double> round_ms;  // CPU ms per image, per round
  double ms() const { return items > 0 ? 1000.0 * cpu_seconds / static_cast<double>(items) : 0.0; }
  double per_second() const { return seconds > 0 ? static_cast<double>(items) / seconds : 0.0; }
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void run_for(Setting& s, const std::vector<Bytes>& images, double seconds) {
  if (s.simd_target != 0) vision::cap_simd_target(s.simd_target);
  for (const auto& bytes : images) s.once(bytes);  // warm-up: buffers reach their size
  // Whole passes over the images, so that every round weighs each image alike.
  std::uint64_t items = 0;
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_seconds();
  double elapsed = 0.0;
  do {
    for (const auto& bytes : images) s.once(bytes);
    items += images.size();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  const double cpu = thread_cpu_seconds() - cpu_start;
  s.seconds += elapsed;
  s.cpu_seconds += cpu;
  s.items += items;
  s.round_ms.push_back(1000.0 * cpu / static_cast<double>(items));
}

Bytes encode_jpeg(const vision::DecodedImage& image) {
  tjhandle tj = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &buffer, &size,
                             TJSAMP_420, 95, 0);
  Bytes out;
  if (rc == 0) out.assign(buffer, buffer + size);
  tjFree(buffer);
  tjDestroy(tj);
  if (rc != 0) throw std::runtime_error("could not encode a 2x enlargement as JPEG");
  return out;
}

int run_decode_bench(const DecodeBenchOptions& opts) {
  setup_logging("warn", false);
  if (opts.rounds < 1) throw std::runtime_error("--rounds must be at least 1");
  const auto bundle = opts.model.load();
  if (!bundle.preprocess)
    throw std::runtime_error("the model bundle declares no preprocessing (use --preprocess)");
  const auto images = read_image_dir(opts.images);
  const auto shape = value_or_throw(model::input_shape(bundle));
  auto pre = vision::Preprocessor::create(*bundle.preprocess, shape.channels, shape.height, shape.width);
  if (!pre) throw std::runtime_error(pre.status().to_string());
  const int channels = pre->spec().channels();

  if (auto st = vision::apply_simd_environment(); !st) throw std::runtime_error(st.message());
  std::vector<std::int64_t> targets;  // the exact path is measured on each
  if (opts.simd == "all") {
    targets = vision::available_simd_targets();
  } else if (opts.simd != "best") {
    auto target = vision::parse_simd_target(opts.simd);
    if (!target) throw std::runtime_error("--simd: " + target.status().message());
    vision::cap_simd_target(*target);
  }
  std::string compiled;
  for (auto t : vision::available_simd_targets()) compiled += " " + vision::simd_target_name(t);
  std::printf("CPU: %s (%s)\n", cpu_model().c_str(), cpu_features().describe().c_str());
  std::printf("SIMD: resize kernels on %s (available on this CPU:%s; SLUICE_SIMD or --simd caps it)\n",
              vision::simd_target_name(vision::active_simd_target()).c_str(), compiled.c_str());
  std::printf("%zu images from %s, one thread, %d interleaved rounds of %.2f s per setting\n", images.size(),
              opts.images.c_str(), opts.rounds, opts.seconds / opts.rounds);

  vision::ImageDecoder decoder, scaled;
  scaled.set_scaling_target(&pre->spec());
  vision::DecodedImage image;
  std::vector<float> tensor(pre->tensor_elements());
  const auto must = [](const Status& st) {
    if (!st) throw std::runtime_error(st.to_string());
  };
  std::vector<Setting> settings;
  settings.push_back(
      {"decode_alone",
       fmt::format("decode alone (full size, {} channel{})", channels, channels > 1 ? "s" : ""),
       [&](std::span<const std::uint8_t> b) { must(decoder.decode(b, channels, image)); }});
  const auto exact = [&](std::span<const std::uint8_t> b) {
    must(decoder.decode(b, channels, image));
    must(pre->run(image, tensor));
  };
  const std::int64_t best = vision::active_simd_target();
  if (targets.empty()) targets.push_back(best);
  for (auto t : targets) {
    settings.push_back(
        {"exact", fmt::format("decode + preprocess, exact ({})", vision::simd_target_name(t)), exact, t});
  }
  settings.push_back(
      {"dct_scaling",
       fmt::format("decode + preprocess, --jpeg-dct-scaling ({})", vision::simd_target_name(best)),
       [&](std::span<const std::uint8_t> b) {
         must(scaled.decode(b, channels, image));
         must(pre->run(image, tensor));
       },
       best});
  for (int r = 0; r < opts.rounds; ++r) {
    for (auto& s : settings) run_for(s, images, opts.seconds / opts.rounds);
  }

  const Setting& alone = settings.front();
  // Times are the thread's CPU time, which load from other processes does not inflate; the wall
  // clock's images/s is shown too.
  std::printf("\n%-52s %14s %14s %16s %-18s %12s\n", "setting", "CPU ms/image", "images/CPU-s",
              "vs decode alone", "(rounds: min-max)", "wall img/s");
  for (const auto& s : settings) {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < s.round_ms.size(); ++i) ratios.push_back(s.round_ms[i] / alone.round_ms[i]);
    const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    const double ratio = s.ms() / alone.ms();
    std::printf("%-52s %14.3f %14.1f %16.3f (%.3f-%.3f)      %12.1f\n", s.name.c_str(), s.ms(),
                1000.0 / s.ms(), ratio, *lo, *hi, s.per_second());
  }
  vision::cap_simd_target(best);

  // Top-1 agreement of the DCT-scaling opt-in with the exact path, on the images and on 2x
  // enlargements of them (JPEG, 4:2:0, quality 95), where the DCT path engages on large photographs.
  auto backend = model::create_backend(bundle, {1, 1});
  if (!backend) throw std::runtime_error(backend.status().to_string());
  std::vector<float> output(static_cast<std::size_t>((*backend)->shape().classes));
  const auto top1 = [&](vision::ImageDecoder& d, std::span<const std::uint8_t> bytes, int& decoded_width) {
    must(d.decode(bytes, channels, image));
    decoded_width = image.width;
    must(pre->run(image, tensor));
    must((*backend)->infer(tensor, 1, output));
    return std::max_element(output.begin(), output.end()) - output.begin();
  };
  std::vector<Bytes> inputs = images;
  vision::ResizeScratch scratch;
  for (const auto& bytes : images) {
    vision::DecodedImage full, big;
    must(decoder.decode(bytes, 3, full));
    must(vision::antialiased_resize(full, full.width * 2, full.height * 2, big, scratch));
    inputs.push_back(encode_jpeg(big));
  }
  int agree = 0, engaged = 0;
  for (const auto& bytes : inputs) {
    int w_exact = 0, w_scaled = 0;
    agree += top1(decoder, bytes, w_exact) == top1(scaled, bytes, w_scaled);
    engaged += w_scaled < w_exact;
  }
  std::printf(
      "\n--jpeg-dct-scaling top-1 agreement with the exact path: %d of %zu (%zu images and their 2x "
      "enlargements; DCT scaling engaged on %d), model %s\n",
      agree, inputs.size(), images.size(), engaged, opts.model.model.c_str());
  if (!opts.csv.empty()) {
    std::string csv =
        "setting,simd_target,images,cpu_ms_per_image,images_per_cpu_second,ratio_to_decode_alone,"
        "wall_images_per_second,top1_agreement,top1_images\n";
    for (const auto& s : settings) {
      const bool dct = s.key == "dct_scaling";
      csv += fmt::format("{},{},{},{:.4f},{:.1f},{:.4f},{:.1f},{},{}\n", s.key,
                         s.simd_target != 0 ? vision::simd_target_name(s.simd_target) : "", s.items, s.ms(),
                         1000.0 / s.ms(), s.ms() / alone.ms(), s.per_second(),
                         dct ? std::to_string(agree) : "", dct ? std::to_string(inputs.size()) : "");
    }
    std::ofstream(opts.csv) << csv;
    std::printf("wrote %s\n", opts.csv.c_str());
  }
  return 0;
}

}  // namespace

void register_bench_decode(CLI::App& bench) {
  auto opts = std::make_shared<DecodeBenchOptions>();
  auto* cmd = bench.add_subcommand(
      "decode",
      "One thread: decode alone, decode + exact preprocessing, the --jpeg-dct-scaling opt-in and its top-1 "
      "agreement");
  opts->model.add_to(*cmd, /*model_required=*/true);
  cmd->add_option("--images", opts->images, "Folder of JPEG/PNG images, cycled")->required();
  cmd->add_option("--seconds", opts->seconds, "Measuring time per setting, in seconds, over all rounds")
      ->capture_default_str();
  cmd->add_option("--rounds", opts->rounds, "Interleaved rounds the time is split into")
      ->capture_default_str();
  cmd->add_option(
         "--simd", opts->simd,
         "Resize kernels' SIMD target: best, all (the exact path on each), avx512, avx2, sse4, ssse3, "
         "scalar")
      ->capture_default_str();
  cmd->add_option("--csv", opts->csv, "Also write the figures to this CSV file");
  cmd->callback([opts] {
    if (const int rc = run_decode_bench(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
