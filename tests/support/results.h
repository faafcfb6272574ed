// Reading what a pipeline answered: JSON result lines (of `sluice serve`, of `sluice results`, or
// FrameResults of an in-process pipeline turned into the same shape), and checking them against
// the Fashion-MNIST labels.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/frame_result.h"

namespace sluice::test {

using nlohmann::json;
/// (stream, seq): what identifies a frame.
using FrameKey = std::pair<std::uint64_t, std::uint64_t>;

/// The JSON lines of a file. With `settled` false (the server still writes), a last line that is
/// half written is skipped; any other line that does not parse fails the test.
std::vector<json> read_json_lines(const std::string& path, bool settled = true);
/// The lines by their "name" (the last line of a name wins).
std::map<std::string, json> by_name(const std::vector<json>& lines);
/// The lines by (stream, seq), each with all of its lines.
std::map<FrameKey, std::vector<json>> by_key(const std::vector<json>& lines);
/// Expects exactly `streams` producer streams, each with the seqs 0..per_stream-1.
void expect_complete(const std::map<FrameKey, std::vector<json>>& keys, std::size_t streams,
                     std::uint64_t per_stream);
/// A FrameResult in the shape of an output line: stream, seq, name, batch, top [{index, label,
/// score}] or error.
json to_json(const FrameResult& result);

/// Fashion-MNIST test image `index` as a PNG.
std::vector<std::uint8_t> fashion_png(std::size_t index);
/// Writes test images first..first+n-1 as PNG files named by index ("00042.png"); `by_rename`
/// writes each under a hidden name first and renames it, as a careful producer does.
void write_fashion_pngs(const std::string& dir, std::size_t first, std::size_t n, bool by_rename = false);
/// Expects `n` lines, each with a prediction, names unique, and at least `min_accuracy` of them
/// matching the labels (names are "NNNNN.png" or plain indexes).
void expect_classified(const std::vector<json>& lines, std::size_t n, double min_accuracy);
/// The fraction of `lines` whose top-1 matches the label of the image their name indexes.
double fashion_accuracy(const std::vector<json>& lines);
/// The test accuracy that PyTorch measured on all 10,000 test images when it trained the bundle
/// (recorded in its bundle.yaml by tools/train_fashion_mnist.py), when recorded.
std::optional<double> fashion_recorded_accuracy();

}  // namespace sluice::test
