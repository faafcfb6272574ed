// The dashboard's files (web/ and uPlot's dist files), embedded into the binary at build time by
// cmake/embed_assets.cmake, so sluice serves them itself and nothing comes from a CDN.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace sluice::http {

struct Asset {
  std::string_view path;          // URL path, e.g. "/uPlot.iife.min.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view bytes;
};

/// Every embedded asset; "/index.html" is the dashboard page.
std::span<const Asset> dashboard_assets();

}  // namespace sluice::http
