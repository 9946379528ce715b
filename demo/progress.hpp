// SPDX-License-Identifier: MIT
// Progress display for long loops: a single updating line on a terminal (epoch, phase, batch,
// loss, images/s, time left), plain lines every few seconds when the output is a file or pipe,
// nothing with --quiet. Writes to stderr so stdout stays clean for results.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace demo {

class Progress {
public:
    explicit Progress(bool quiet) : quiet_(quiet), tty_(isatty(fileno(stderr)) != 0) {}

    /// Starts a task of `total_images` images (0 if unknown).
    void start(const std::string& title, double total_images) {
        title_ = title;
        total_ = total_images;
        done_ = 0;
        t0_ = last_ = clock::now();
        if (!quiet_ && !tty_) std::fprintf(stderr, "%s\n", title.c_str());
    }

    /// Reports `images` more processed; `what` describes the position (epoch, phase, batch, loss).
    void advance(double images, const std::string& what, bool force = false) {
        done_ += images;
        if (quiet_) return;
        const auto now = clock::now();
        const double since = std::chrono::duration<double>(now - last_).count();
        if (!force && since < (tty_ ? 0.2 : 15.0)) return;
        last_ = now;
        const double elapsed = std::chrono::duration<double>(now - t0_).count();
        const double rate = elapsed > 0 ? done_ / elapsed : 0;
        std::string left = "?";
        if (rate > 0 && total_ > 0) left = duration(std::max(0.0, (total_ - done_) / rate));
        char line[512];
        std::snprintf(line, sizeof line, "%s | %s | %.1f img/s | %s elapsed, %s left", title_.c_str(), what.c_str(),
                      rate, duration(elapsed).c_str(), left.c_str());
        if (tty_)
            std::fprintf(stderr, "\r\033[K%s", line);
        else
            std::fprintf(stderr, "%s\n", line);
        std::fflush(stderr);
    }

    /// Ends the task's line on a terminal.
    void finish() {
        if (!quiet_ && tty_) std::fprintf(stderr, "\n");
    }

    static std::string duration(double s) {
        char buf[32];
        const long t = static_cast<long>(s + 0.5);
        if (t >= 3600)
            std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
        else
            std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
        return buf;
    }

private:
    using clock = std::chrono::steady_clock;
    bool quiet_, tty_;
    std::string title_;
    double total_ = 0, done_ = 0;
    clock::time_point t0_, last_;
};

}  // namespace demo
