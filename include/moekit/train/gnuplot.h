#pragma once
#include <string>

namespace moekit::train {

/// Writes `script` (gnuplot commands that render `svg_path`) next to the SVG as
/// `<svg_path minus .svg>.gp` and runs gnuplot on it. Plots are a convenience on
/// top of the CSV files, so a missing or failing gnuplot returns false instead
/// of throwing; callers say so to the user.
bool render_svg(const std::string& svg_path, const std::string& script);

}  // namespace moekit::train
