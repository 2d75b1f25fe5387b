#include "progress.h"

#include <unistd.h>

namespace exerciser {

Progress::Progress(const std::string &mode, FILE *out) : out_(out) {
  if (mode == "always")
    enabled_ = true;
  else if (mode == "never")
    enabled_ = false;
  else
    enabled_ = isatty(fileno(out)) != 0;
}

std::string Progress::render(double fraction, const std::string &text, unsigned width) {
  if (!(fraction >= 0)) fraction = 0;
  if (fraction > 1) fraction = 1;
  const unsigned filled = unsigned(fraction * width + 0.5);
  std::string bar = "[";
  bar.append(filled, '#');
  bar.append(width - filled, '.');
  char pct[16];
  std::snprintf(pct, sizeof pct, "] %3u%% ", unsigned(fraction * 100 + 0.5));
  return bar + pct + text;
}

void Progress::update(double fraction, const std::string &text) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100) && fraction < 1) return;
  last_ = now;
  std::fprintf(out_, "\r%s\033[K", render(fraction, text).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void Progress::finish() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace exerciser
