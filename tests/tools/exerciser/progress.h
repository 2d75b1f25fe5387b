// A one-line progress bar on stderr, drawn only when enabled (by default when stderr is a
// terminal) and at most ten times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace exerciser {

class Progress {
 public:
  // mode: "auto" (stderr is a terminal), "always", "never".
  explicit Progress(const std::string &mode, FILE *out = stderr);
  bool enabled() const { return enabled_; }
  // fraction in [0, 1]; text is shown after the bar.
  void update(double fraction, const std::string &text);
  // Erases the bar.
  void finish();
  // The bar as drawn (for tests).
  static std::string render(double fraction, const std::string &text, unsigned width = 30);

 private:
  bool enabled_;
  FILE *out_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace exerciser
