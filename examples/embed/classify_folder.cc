// Streams a folder of images through a sluice pipeline and prints one line per image:
//   classify_folder MODEL DIR [PREPROCESS [LABELS]]
// MODEL is a bundle directory or an .onnx file; PREPROCESS ("imagenet") and LABELS (one class
// name per line) are for a bare .onnx file.
#include <sluice/pipeline.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL DIR [PREPROCESS [LABELS]]\n", argv[0]);
    return 2;
  }
  sluice::PipelineConfig config;  // the command line's defaults
  config.model = argv[1];
  if (argc > 3) config.preprocess = argv[3];
  if (argc > 4) config.labels = argv[4];
  config.batch_interval = std::chrono::milliseconds(100);

  // Called on the pipeline's commit thread, once per image, when its result is final.
  auto pipeline = sluice::Pipeline::create(config, [](const sluice::FrameResult& r) {
    if (!r.ok()) {
      std::printf("%s\terror\t%s\n", r.name.c_str(), r.error.c_str());
    } else {
      std::printf("%s\t%.*s\t%.3f\t%.1f ms\n", r.name.c_str(), static_cast<int>(r.top.front().label.size()),
                  r.top.front().label.data(), r.top.front().score, r.latency_ms);
    }
  });
  if (!pipeline) {
    std::fprintf(stderr, "cannot start: %s\n", pipeline.status().to_string().c_str());
    return 1;
  }

  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(argv[2])) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                          std::istreambuf_iterator<char>());
    // Blocks while the pipeline is full: the memory budget is the backpressure.
    if (auto st = (*pipeline)->submit(file.filename().string(), bytes); !st) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), st.to_string().c_str());
      return 1;
    }
  }
  // Finishes every image submitted: each has had its callback when this returns.
  if (auto st = (*pipeline)->stop(std::chrono::seconds(30)); !st) {
    std::fprintf(stderr, "stop: %s\n", st.to_string().c_str());
    return 1;
  }
  return 0;
}
