#include "moekit/train/gnuplot.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "moekit/core/checkpoint.h"

namespace moekit::train {
namespace fs = std::filesystem;

bool render_svg(const std::string& svg_path, const std::string& script) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) return false;
  const fs::path svg(svg_path);
  const fs::path script_path = fs::path(svg).replace_extension(".gp");
  write_text_atomically(script_path.string(),
                        fmt::format("set terminal svg size 720,480 background rgb 'white'\n"
                                    "set output '{}'\n{}",
                                    svg.string(), script));
  const std::string cmd = fmt::format("gnuplot '{}' >/dev/null 2>&1", script_path.string());
  return std::system(cmd.c_str()) == 0 && fs::exists(svg);
}

}  // namespace moekit::train
