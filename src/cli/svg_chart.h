// A small hand-written SVG line chart: one category x axis and two value axes (left and right),
// one line on each, as in Spark's "scaling with cores per executor" charts. Standalone SVG 1.1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::cli {

/// One line of the chart: its legend name and one value per x position.
struct ChartSeries {
  std::string name;
  std::vector<double> values;
};

/// A chart with `left` drawn against the left axis and `right` against the right one. Both
/// series have one value per x label; a non-finite or negative value is drawn as 0.
struct DualAxisChart {
  std::string title;
  std::string x_title;
  std::vector<std::string> x_labels;
  ChartSeries left;
  std::string left_axis_title;
  ChartSeries right;
  std::string right_axis_title;
};

/// `text` with &, <, >, " and ' escaped for XML text and attribute values.
std::string xml_escape(std::string_view text);

/// The chart as a standalone SVG document (with its xmlns), two <polyline> elements, one per series.
std::string render_svg(const DualAxisChart& chart);

}  // namespace sluice::cli
