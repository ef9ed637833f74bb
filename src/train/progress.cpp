#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace deftnn::train {

std::string format_duration(double seconds) {
  int64_t s = int64_t(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

Progress::Progress(bool enabled, int64_t epochs, int64_t iters_per_epoch, int64_t start_iteration)
    : enabled_(enabled),
      tty_(enabled && isatty(fileno(stderr))),
      epochs_(epochs),
      iters_per_epoch_(iters_per_epoch),
      start_iteration_(start_iteration),
      start_(Clock::now()),
      last_draw_(start_) {}

void Progress::update(int64_t epoch, int64_t iteration, double loss, double accuracy, int64_t images) {
  images_ += images;
  if (!tty_) return;
  auto now = Clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  int64_t done = iteration - start_iteration_, total = epochs_ * iters_per_epoch_;
  double rate = elapsed > 0 ? double(images_) / elapsed : 0;
  double eta = done > 0 ? elapsed / double(done) * double(total - iteration) : 0;
  int64_t in_epoch = iteration - epoch * iters_per_epoch_;
  constexpr int kBar = 20;
  int filled = iters_per_epoch_ ? int(kBar * in_epoch / iters_per_epoch_) : 0;
  std::string bar(size_t(filled), '#');
  bar.append(size_t(kBar - filled), '.');
  fmt::print(stderr, "\repoch {}/{} [{}] it {}/{}  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  ETA {}\x1b[K", epoch + 1,
             epochs_, bar, iteration, total, loss, 100 * accuracy, rate, format_duration(eta));
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::line(const std::string& text) {
  if (!enabled_) return;
  if (tty_ && drawn_) fmt::print(stderr, "\r\x1b[K");
  fmt::print(stderr, "{}\n", text);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace deftnn::train
