#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
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

namespace {
constexpr int kBar = 20;  // characters of the bar
constexpr auto kRedraw = std::chrono::milliseconds(200);

std::string bar(int64_t done, int64_t total) {
  const int filled = total > 0 ? int(kBar * std::min(done, total) / total) : 0;
  std::string b(size_t(filled), '#');
  b.append(size_t(kBar - filled), '.');
  return b;
}
}  // namespace

void Progress::update(int64_t epoch, int64_t iteration, double loss, double accuracy, int64_t images) {
  images_ += images;
  if (!tty_) return;
  auto now = Clock::now();
  if (drawn_ && now - last_draw_ < kRedraw) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  int64_t done = iteration - start_iteration_, total = epochs_ * iters_per_epoch_;
  double rate = elapsed > 0 ? double(images_) / elapsed : 0;
  double eta = done > 0 ? elapsed / double(done) * double(total - iteration) : 0;
  int64_t in_epoch = iteration - epoch * iters_per_epoch_;
  fmt::print(stderr, "\repoch {}/{} [{}] it {}/{}  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  ETA {}\x1b[K", epoch + 1,
             epochs_, bar(in_epoch, iters_per_epoch_), iteration, total, loss, 100 * accuracy, rate, format_duration(eta));
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

ItemProgress::ItemProgress(bool enabled, std::string what, std::string unit, int64_t total)
    : enabled_(enabled),
      tty_(enabled && isatty(fileno(stderr))),
      what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      start_(Clock::now()),
      last_draw_(start_) {}

void ItemProgress::update(int64_t done) {
  done_ = done;
  if (!tty_) return;
  const auto now = Clock::now();
  if (drawn_ && now - last_draw_ < kRedraw && done < total_) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? double(done) / elapsed : 0;
  const double eta = done > 0 ? elapsed / double(done) * double(total_ - done) : 0;
  fmt::print(stderr, "\r{} [{}] {}/{}  {:.1f} {}/s  ETA {}{}{}\x1b[K", what_, bar(done, total_), done, total_, rate,
             unit_, format_duration(eta), note_.empty() ? "" : "  ", note_);
  std::fflush(stderr);
  drawn_ = true;
}

void ItemProgress::finish() {
  if (!enabled_) return;
  if (tty_ && drawn_) fmt::print(stderr, "\r\x1b[K");
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  fmt::print(stderr, "{}: {} {} in {:.1f} s ({:.1f} {}/s){}{}\n", what_, done_, unit_, elapsed,
             elapsed > 0 ? double(done_) / elapsed : 0.0, unit_, note_.empty() ? "" : ", ", note_);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace deftnn::train
