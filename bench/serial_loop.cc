// The plain serial loop a user would write instead of sluice, as a baseline for the benchmarks:
// OpenCV imdecode + cv::resize (bilinear) + center crop + normalise into an NCHW batch, then ONNX
// Runtime at a fixed batch size, one after the other on one thread (ONNX Runtime's own intra-op
// threads aside). No network, no output: the images are in memory.
//
//   sluice_serial_loop --model M.onnx --images DIR [--batch 8] [--threads 2] [--seconds 5]
//                      [--resize 256 --crop 224 | --resize 0 --crop 0] [--channels 3|1]
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace {

using Clock = std::chrono::steady_clock;

struct LoopOptions {
  std::string model;
  std::string images;
  int batch = 8;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double seconds = 5.0;
  int resize = 256;  // the shorter side, before the crop; 0: none
  int crop = 224;    // the center crop; 0: the model's input as decoded
  int channels = 3;
};

std::vector<std::vector<std::uint8_t>> read_images(const std::string& dir) {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (out.empty()) throw std::runtime_error("--images " + dir + ": no image files");
  return out;
}

// Decodes, resizes, crops and normalises one image into `out` (channels x size x size, planar).
void prepare(const std::vector<std::uint8_t>& bytes, const LoopOptions& o, int size, float* out) {
  const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::uint8_t*>(bytes.data()));
  cv::Mat image = cv::imdecode(raw, o.channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  if (image.empty()) throw std::runtime_error("an image does not decode");
  if (o.channels == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  if (o.resize > 0) {
    const double scale = static_cast<double>(o.resize) / std::min(image.cols, image.rows);
    cv::resize(image, image, cv::Size(), scale, scale, cv::INTER_LINEAR);
  }
  if (image.cols < size || image.rows < size) cv::resize(image, image, cv::Size(size, size));
  const cv::Mat cropped = image(cv::Rect((image.cols - size) / 2, (image.rows - size) / 2, size, size));
  constexpr std::array<float, 3> kMean{0.485f, 0.456f, 0.406f}, kStd{0.229f, 0.224f, 0.225f};
  for (int y = 0; y < size; ++y) {
    const std::uint8_t* row = cropped.ptr<std::uint8_t>(y);
    for (int x = 0; x < size; ++x) {
      for (int c = 0; c < o.channels; ++c) {
        const float v = row[x * o.channels + c] / 255.0f;
        out[(c * size + y) * size + x] = o.channels == 3 ? (v - kMean[c]) / kStd[c] : v;
      }
    }
  }
}

int run(const LoopOptions& o) {
  const auto images = read_images(o.images);
  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "serial-loop");
  Ort::SessionOptions session_options;
  session_options.SetIntraOpNumThreads(o.threads);
  session_options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  Ort::Session session(env, o.model.c_str(), session_options);
  Ort::AllocatorWithDefaultOptions allocator;
  const auto input_name = session.GetInputNameAllocated(0, allocator);
  const auto output_name = session.GetOutputNameAllocated(0, allocator);
  auto shape = session.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
  if (shape.size() != 4) throw std::runtime_error("the model's input is not N x C x H x W");
  const int size = static_cast<int>(shape[3]);
  if (o.crop != 0 && o.crop != size) throw std::runtime_error("--crop differs from the model's input size");
  const int batch = shape[0] > 0 ? static_cast<int>(shape[0]) : o.batch;
  shape[0] = batch;
  const std::size_t per_image = static_cast<std::size_t>(o.channels) * size * size;
  std::vector<float> tensor(per_image * static_cast<std::size_t>(batch));
  const auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const char* inputs[] = {input_name.get()};
  const char* outputs[] = {output_name.get()};

  double prepare_s = 0.0, infer_s = 0.0;
  std::size_t done = 0, next = 0;
  const auto run_batch = [&] {
    const auto t0 = Clock::now();
    for (int i = 0; i < batch; ++i) prepare(images[next++ % images.size()], o, size, &tensor[i * per_image]);
    const auto t1 = Clock::now();
    auto value =
        Ort::Value::CreateTensor<float>(memory, tensor.data(), tensor.size(), shape.data(), shape.size());
    session.Run(Ort::RunOptions{nullptr}, inputs, &value, 1, outputs, 1);
    const auto t2 = Clock::now();
    prepare_s += std::chrono::duration<double>(t1 - t0).count();
    infer_s += std::chrono::duration<double>(t2 - t1).count();
    done += static_cast<std::size_t>(batch);
  };
  for (int warm = 0; warm < 3; ++warm) run_batch();
  prepare_s = infer_s = 0.0;
  done = 0;
  const auto start = Clock::now();
  double elapsed = 0.0;
  do {
    run_batch();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < o.seconds);
  std::printf(
      "serial loop: %zu images in %.2f s: %.1f images/s  (decode + resize + crop %.3f ms/image, "
      "ONNX Runtime batch %d on %d thread(s) %.3f ms/image)\n",
      done, elapsed, static_cast<double>(done) / elapsed, 1000.0 * prepare_s / static_cast<double>(done),
      batch, o.threads, 1000.0 * infer_s / static_cast<double>(done));
  std::printf("images_per_second=%.1f\n", static_cast<double>(done) / elapsed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  LoopOptions o;
  CLI::App app{
      "The plain serial loop a user would write (OpenCV + ONNX Runtime), for comparison with sluice"};
  app.add_option("--model", o.model, "An ONNX model with an N x C x H x W float input")->required();
  app.add_option("--images", o.images, "A directory of images, read into memory once")->required();
  app.add_option("--batch", o.batch, "Images per inference call (a model with a fixed batch uses its own)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--threads", o.threads, "ONNX Runtime's intra-op threads")->capture_default_str();
  app.add_option("--seconds", o.seconds, "Measuring time, after 3 warm-up batches")->capture_default_str();
  app.add_option("--resize", o.resize, "The shorter side after resizing (0: no resize)")
      ->capture_default_str();
  app.add_option("--crop", o.crop, "The center crop (0: the model's input size)")->capture_default_str();
  app.add_option("--channels", o.channels, "3 (RGB, ImageNet normalisation) or 1 (gray, / 255)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 3}));
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice_serial_loop: %s\n", e.what());
    return 1;
  }
}
