// Training progress on stderr. On a terminal: one line redrawn with '\r' at
// most five times a second (epoch, iteration, loss, accuracy, images/s, ETA)
// and a permanent line per epoch. Otherwise (CI logs): the per-epoch lines only.
// ItemProgress is the same bar for a count of items (deftnn embed).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace deftnn::train {

class Progress {
 public:
  // enabled == false prints nothing at all.
  Progress(bool enabled, int64_t epochs, int64_t iters_per_epoch, int64_t start_iteration);
  // After each iteration: `iteration` counts all iterations of the run so far.
  void update(int64_t epoch, int64_t iteration, double loss, double accuracy, int64_t images);
  // A permanent line (clears the redrawn one first).
  void line(const std::string& text);
  bool is_tty() const { return tty_; }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, tty_;
  int64_t epochs_, iters_per_epoch_, start_iteration_;
  Clock::time_point start_, last_draw_;
  int64_t images_ = 0;
  bool drawn_ = false;
};

// Progress over a known number of items (sentences, batches) on stderr: on a
// terminal one line redrawn at most five times a second, "<what> [bar]
// done/total  rate <unit>/s  ETA"; otherwise nothing until finish(), which
// prints one summary line (count, seconds, rate) unless disabled.
class ItemProgress {
 public:
  ItemProgress(bool enabled, std::string what, std::string unit, int64_t total);
  void update(int64_t done);
  // Text shown after the ETA from the next redraw on (a running loss).
  void note(std::string text) { note_ = std::move(text); }
  // Clears the redrawn line and prints the summary line.
  void finish();
  bool is_tty() const { return tty_; }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, tty_;
  std::string what_, unit_, note_;
  int64_t total_, done_ = 0;
  Clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

std::string format_duration(double seconds);  // "1:05", "1:02:03"

}  // namespace deftnn::train
