#include "cli/svg_chart.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace sluice::cli {
namespace {

constexpr const char* kLeftColor = "#1f77b4";
constexpr const char* kRightColor = "#d62728";

// A value axis from 0 to `top` in steps of `step` (1, 2 or 5 times a power of ten).
struct Axis {
  double top = 1.0;
  double step = 0.2;
  int decimals = 1;
};

double drawable(double v) {
  return std::isfinite(v) && v > 0 ? v : 0.0;
}

Axis nice_axis(const std::vector<double>& values) {
  double max = 0.0;
  for (const double v : values) max = std::max(max, drawable(v));
  if (max <= 0.0) max = 1.0;
  const double raw = max / 5.0;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power * 10.0;
  for (const double m : {1.0, 2.0, 5.0}) {
    if (power * m >= raw) {
      step = power * m;
      break;
    }
  }
  Axis axis;
  axis.step = step;
  axis.top = std::ceil(max / step - 1e-9) * step;
  axis.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return axis;
}

std::vector<double> ticks(const Axis& axis) {
  std::vector<double> out;
  const auto steps = std::llround(axis.top / axis.step);
  for (long long k = 0; k <= steps; ++k) out.push_back(static_cast<double>(k) * axis.step);
  return out;
}

std::string number(double v, int decimals) {
  return fmt::format("{:.{}f}", v, decimals);
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_svg(const DualAxisChart& chart) {
  const std::size_t n = std::max<std::size_t>(1, chart.x_labels.size());
  const bool slanted = n > 6;  // long label rows are drawn at an angle
  // Wide enough for one label per 110 px and for the title (about 9.5 px per bold character).
  const double width = std::max(
      {720.0, 200.0 + 110.0 * static_cast<double>(n), 60.0 + 9.5 * static_cast<double>(chart.title.size())});
  const double height = slanted ? 500.0 : 460.0;
  const double left = 90.0, right = 90.0, top = 80.0, bottom = slanted ? 130.0 : 90.0;
  const double plot_w = width - left - right;
  const double plot_h = height - top - bottom;
  const double base = top + plot_h;
  const Axis left_axis = nice_axis(chart.left.values);
  const Axis right_axis = nice_axis(chart.right.values);
  const auto x_of = [&](std::size_t i) {
    return left + (static_cast<double>(i) + 0.5) * plot_w / static_cast<double>(n);
  };
  const auto y_of = [&](double v, const Axis& axis) { return base - drawable(v) / axis.top * plot_h; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
      width, height);
  svg += fmt::format("<rect x=\"0\" y=\"0\" width=\"{:.0f}\" height=\"{:.0f}\" fill=\"#ffffff\"/>\n", width,
                     height);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"28\" text-anchor=\"middle\" font-size=\"17\" "
      "font-weight=\"bold\">{}</text>\n",
      width / 2, xml_escape(chart.title));

  // Legend: a short line sample and the series name for each line, centred under the title.
  const double legend_y = 54.0;
  const double legend_x = width / 2 - 230.0;
  svg += fmt::format(
      "<g class=\"legend\">\n"
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" "
      "stroke-width=\"2.5\"/>\n"
      "<circle cx=\"{4:.1f}\" cy=\"{1:.1f}\" r=\"3.5\" fill=\"{3}\"/>\n"
      "<text x=\"{5:.1f}\" y=\"{6:.1f}\">{7}</text>\n",
      legend_x, legend_y, legend_x + 28, kLeftColor, legend_x + 14, legend_x + 34, legend_y + 4,
      xml_escape(chart.left.name));
  const double legend_x2 = width / 2 + 20.0;
  svg += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" stroke-width=\"2.5\" "
      "stroke-dasharray=\"6 4\"/>\n"
      "<rect x=\"{4:.1f}\" y=\"{5:.1f}\" width=\"7\" height=\"7\" fill=\"{3}\"/>\n"
      "<text x=\"{6:.1f}\" y=\"{7:.1f}\">{8}</text>\n</g>\n",
      legend_x2, legend_y, legend_x2 + 28, kRightColor, legend_x2 + 10.5, legend_y - 3.5, legend_x2 + 34,
      legend_y + 4, xml_escape(chart.right.name));

  // Grid and tick labels: horizontal lines at the left axis' ticks, tick labels on both sides.
  svg += "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (const double v : ticks(left_axis)) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n", left,
                       y_of(v, left_axis), left + plot_w, y_of(v, left_axis));
  }
  svg += "</g>\n<g class=\"ticks\">\n";
  for (const double v : ticks(left_axis)) {
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"{}\">{}</text>\n",
                       left - 8, y_of(v, left_axis) + 4, kLeftColor, number(v, left_axis.decimals));
  }
  for (const double v : ticks(right_axis)) {
    const double y = y_of(v, right_axis);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#333333\"/>\n",
        left + plot_w, y, left + plot_w + 5);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"start\" fill=\"{}\">{}</text>\n",
                       left + plot_w + 8, y + 4, kRightColor, number(v, right_axis.decimals));
  }
  for (std::size_t i = 0; i < chart.x_labels.size(); ++i) {
    const double x = x_of(i);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333333\"/>\n", x, base,
        base + 5);
    if (slanted) {
      svg += fmt::format(
          "<text x=\"{0:.1f}\" y=\"{1:.1f}\" text-anchor=\"end\" transform=\"rotate(-35 {0:.1f} "
          "{1:.1f})\">{2}"
          "</text>\n",
          x, base + 18, xml_escape(chart.x_labels[i]));
    } else {
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x, base + 20,
                         xml_escape(chart.x_labels[i]));
    }
  }
  svg += "</g>\n";

  // Axes and their titles.
  svg += fmt::format(
      "<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1.2\">\n"
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n"
      "<line x1=\"{3:.1f}\" y1=\"{1:.1f}\" x2=\"{3:.1f}\" y2=\"{2:.1f}\"/>\n"
      "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{3:.1f}\" y2=\"{2:.1f}\"/>\n</g>\n",
      left, top, base, left + plot_w);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
                     left + plot_w / 2, height - 18, xml_escape(chart.x_title));
  svg += fmt::format(
      "<text x=\"24\" y=\"{0:.1f}\" text-anchor=\"middle\" font-size=\"13\" fill=\"{1}\" "
      "transform=\"rotate(-90 24 {0:.1f})\">{2}</text>\n",
      top + plot_h / 2, kLeftColor, xml_escape(chart.left_axis_title));
  svg += fmt::format(
      "<text x=\"{0:.1f}\" y=\"{1:.1f}\" text-anchor=\"middle\" font-size=\"13\" fill=\"{2}\" "
      "transform=\"rotate(90 {0:.1f} {1:.1f})\">{3}</text>\n",
      width - 24, top + plot_h / 2, kRightColor, xml_escape(chart.right_axis_title));

  // The two lines, with a marker (and its value as a tooltip) at each point.
  const auto line = [&](const ChartSeries& series, const Axis& axis, const char* color, bool dashed) {
    std::string points;
    std::string markers;
    for (std::size_t i = 0; i < std::min(n, series.values.size()); ++i) {
      const double x = x_of(i);
      const double y = y_of(series.values[i], axis);
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", x, y);
      const std::string tip =
          xml_escape(fmt::format("{}: {}", i < chart.x_labels.size() ? chart.x_labels[i] : std::string(),
                                 number(drawable(series.values[i]), axis.decimals + 1)));
      markers += dashed ? fmt::format(
                              "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"8\" height=\"8\" fill=\"{}\"><title>{}"
                              "</title></rect>\n",
                              x - 4, y - 4, color, tip)
                        : fmt::format(
                              "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"><title>{}"
                              "</title></circle>\n",
                              x, y, color, tip);
    }
    return fmt::format(
               "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\"{} points=\"{}\"><title>{}</title>"
               "</polyline>\n",
               color, dashed ? " stroke-dasharray=\"6 4\"" : "", points, xml_escape(series.name)) +
           markers;
  };
  svg += line(chart.left, left_axis, kLeftColor, false);
  svg += line(chart.right, right_axis, kRightColor, true);
  svg += "</svg>\n";
  return svg;
}

}  // namespace sluice::cli
