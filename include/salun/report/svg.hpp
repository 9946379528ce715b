// SPDX-License-Identifier: MIT
// salun::report::svg: the few charts a run report needs, drawn as inline SVG strings by our own
// code, so that a report is one self-contained HTML file (no script, no font, no network).
//   bar_chart     grouped bars, one group per category (per-class accuracies, mask density)
//   line_chart    several series over a shared x axis (loss and gradient norms, CKA, attacks)
//   heatmap       a matrix of values in [0, 1] (the predicted-label matrix)
//   scatter       2-D points coloured by class, one class marked (the UMAP embedding)
// Colours: Paul Tol's "muted" qualitative scheme plus grey for series and classes, and a
// cividis-like ramp for the heatmap; both stay distinguishable under the common colour-vision
// deficiencies. Series also differ by dash pattern, so a chart reads in grey-scale too.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "salun/core/class_index.hpp"

namespace salun::report::svg {

/// Paul Tol's muted scheme (9 colours) and pale grey: a tenth colour for CIFAR-10's classes.
inline const std::vector<std::string>& palette() {
    static const std::vector<std::string> p{"#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE",
                                            "#882255", "#44AA99", "#999933", "#AA4499", "#BBBBBB"};
    return p;
}
inline const std::string& colour(std::size_t i) { return palette()[i % palette().size()]; }

/// Dash patterns for line series beyond colour (solid, dashed, dotted, dash-dot).
inline const char* dash(std::size_t i) {
    static const char* d[] = {"", "6 3", "2 3", "8 3 2 3"};
    return d[i % 4];
}

/// Text safe inside SVG / HTML elements and attribute values.
inline std::string escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

/// A number for an SVG coordinate or a label: at most `digits` decimals, no trailing zeros.
inline std::string num(double v, int digits = 2) {
    if (!std::isfinite(v)) return "0";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    std::string s = buf;
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
    }
    return s == "-0" ? "0" : s;
}

/// Cividis-like ramp, t in [0, 1] -> "#rrggbb" (dark blue to yellow: monotone in lightness).
inline std::string ramp(double t) {
    static const double stops[][3] = {{0, 34, 78}, {65, 77, 108}, {124, 123, 120}, {187, 175, 113}, {253, 231, 55}};
    t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 4.0;
    const int i = std::min(3, static_cast<int>(t));
    const double f = t - i;
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])),
                  static_cast<int>(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])),
                  static_cast<int>(stops[i][2] + f * (stops[i + 1][2] - stops[i][2])));
    return buf;
}

struct Series {
    std::string name;
    std::vector<double> x, y;  // line_chart: x may be empty (then 0, 1, 2, ...)
};

/// Plot area and margins shared by the axis-based charts.
struct Frame {
    double width = 640, height = 260, left = 56, right = 12, top = 28, bottom = 44;
    double plot_w() const { return width - left - right; }
    double plot_h() const { return height - top - bottom; }
};

namespace detail {

inline std::string open_svg(const Frame& f, const std::string& title) {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + num(f.width) + " " + num(f.height) +
           "\" role=\"img\" aria-label=\"" + escape(title) + "\" class=\"chart\"><title>" + escape(title) + "</title>";
}

/// Axes with `ticks` evenly spaced labels on y from y0 to y1, and an x label.
inline std::string y_axis(const Frame& f, double y0, double y1, const std::string& x_label, const std::string& y_label) {
    std::string s;
    const int ticks = 4;
    for (int i = 0; i <= ticks; ++i) {
        const double v = y0 + (y1 - y0) * i / ticks;
        const double y = f.top + f.plot_h() * (1.0 - double(i) / ticks);
        s += "<line x1=\"" + num(f.left) + "\" x2=\"" + num(f.left + f.plot_w()) + "\" y1=\"" + num(y) + "\" y2=\"" +
             num(y) + "\" class=\"grid\"/>";
        s += "<text x=\"" + num(f.left - 6) + "\" y=\"" + num(y + 4) + "\" class=\"tick\" text-anchor=\"end\">" +
             num(v, std::abs(y1 - y0) < 5 ? 2 : 0) + "</text>";
    }
    s += "<text x=\"" + num(f.left + f.plot_w() / 2) + "\" y=\"" + num(f.height - 6) +
         "\" class=\"axis\" text-anchor=\"middle\">" + escape(x_label) + "</text>";
    s += "<text transform=\"translate(12 " + num(f.top + f.plot_h() / 2) + ") rotate(-90)\" class=\"axis\" "
         "text-anchor=\"middle\">" + escape(y_label) + "</text>";
    return s;
}

/// A legend row above the plot: swatch + name per entry.
inline std::string legend(const Frame& f, const std::vector<std::string>& names, bool lines) {
    std::string s;
    double x = f.left;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (lines)
            s += "<line x1=\"" + num(x) + "\" x2=\"" + num(x + 18) + "\" y1=\"12\" y2=\"12\" stroke=\"" + colour(i) +
                 "\" stroke-width=\"2.5\" stroke-dasharray=\"" + dash(i) + "\"/>";
        else
            s += "<rect x=\"" + num(x) + "\" y=\"6\" width=\"12\" height=\"12\" fill=\"" + colour(i) + "\"/>";
        s += "<text x=\"" + num(x + 22) + "\" y=\"16\" class=\"tick\">" + escape(names[i]) + "</text>";
        x += 30 + 6.5 * double(names[i].size());
    }
    return s;
}

inline std::pair<double, double> range_of(const std::vector<Series>& series, bool use_x) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& s : series)
        for (std::size_t i = 0; i < (use_x ? s.x.size() : s.y.size()); ++i) {
            const double v = use_x ? s.x[i] : s.y[i];
            if (!std::isfinite(v)) continue;
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    if (!(lo <= hi)) return {0, 1};
    if (hi - lo < 1e-12) return {lo - 0.5, hi + 0.5};
    return {lo, hi};
}

}  // namespace detail

/// Grouped bars: one group per category, one bar per series (series[k].y[category]); values in
/// [y_min, y_max].
inline std::string bar_chart(const std::string& title, const std::vector<std::string>& categories,
                             const std::vector<Series>& series, double y_min = 0, double y_max = 1,
                             const std::string& x_label = "", const std::string& y_label = "", Frame f = {}) {
    std::string s = detail::open_svg(f, title) + detail::y_axis(f, y_min, y_max, x_label, y_label);
    std::vector<std::string> names;
    for (const auto& se : series) names.push_back(se.name);
    if (series.size() > 1) s += detail::legend(f, names, false);
    const double group_w = f.plot_w() / double(std::max<std::size_t>(1, categories.size()));
    const double bar_w = group_w * 0.8 / double(std::max<std::size_t>(1, series.size()));
    for (std::size_t c = 0; c < categories.size(); ++c) {
        const double gx = f.left + group_w * double(c) + group_w * 0.1;
        for (std::size_t k = 0; k < series.size(); ++k) {
            if (c >= series[k].y.size()) continue;
            const double v = std::clamp(series[k].y[c], y_min, y_max);
            const double h = f.plot_h() * (v - y_min) / (y_max - y_min);
            s += "<rect x=\"" + num(gx + bar_w * double(k)) + "\" y=\"" + num(f.top + f.plot_h() - h) + "\" width=\"" +
                 num(bar_w * 0.92) + "\" height=\"" + num(h) + "\" fill=\"" + colour(k) + "\"><title>" +
                 escape(series[k].name + " " + categories[c] + ": " + num(series[k].y[c], 3)) + "</title></rect>";
        }
        s += "<text x=\"" + num(gx + group_w * 0.4) + "\" y=\"" + num(f.top + f.plot_h() + 14) +
             "\" class=\"tick\" text-anchor=\"middle\">" + escape(categories[c]) + "</text>";
    }
    return s + "</svg>";
}

/// Lines over x (each series' own x, or its index); y range from the data unless given.
inline std::string line_chart(const std::string& title, const std::vector<Series>& series,
                              const std::string& x_label = "", const std::string& y_label = "",
                              double y_min = std::numeric_limits<double>::quiet_NaN(),
                              double y_max = std::numeric_limits<double>::quiet_NaN(), Frame f = {}) {
    std::vector<Series> with_x = series;
    for (auto& se : with_x)
        if (se.x.empty())
            for (std::size_t i = 0; i < se.y.size(); ++i) se.x.push_back(double(i));
    const auto [x0, x1] = detail::range_of(with_x, true);
    auto [y0, y1] = detail::range_of(with_x, false);
    if (std::isfinite(y_min)) y0 = y_min;
    if (std::isfinite(y_max)) y1 = y_max;
    std::string s = detail::open_svg(f, title) + detail::y_axis(f, y0, y1, x_label, y_label);
    std::vector<std::string> names;
    for (const auto& se : with_x) names.push_back(se.name);
    s += detail::legend(f, names, true);
    for (int i = 0; i <= 4; ++i) {  // x ticks
        const double v = x0 + (x1 - x0) * i / 4;
        s += "<text x=\"" + num(f.left + f.plot_w() * i / 4) + "\" y=\"" + num(f.top + f.plot_h() + 14) +
             "\" class=\"tick\" text-anchor=\"middle\">" + num(v, std::abs(x1 - x0) < 5 ? 2 : 0) + "</text>";
    }
    for (std::size_t k = 0; k < with_x.size(); ++k) {
        std::string pts;
        const auto& se = with_x[k];
        for (std::size_t i = 0; i < std::min(se.x.size(), se.y.size()); ++i) {
            if (!std::isfinite(se.y[i])) continue;
            const double px = f.left + f.plot_w() * (se.x[i] - x0) / (x1 - x0);
            const double py = f.top + f.plot_h() * (1.0 - (std::clamp(se.y[i], y0, y1) - y0) / (y1 - y0));
            pts += num(px, 1) + "," + num(py, 1) + " ";
        }
        s += "<polyline fill=\"none\" stroke=\"" + colour(k) + "\" stroke-width=\"2\" stroke-dasharray=\"" + dash(k) +
             "\" points=\"" + pts + "\"><title>" + escape(se.name) + "</title></polyline>";
    }
    return s + "</svg>";
}

/// rows x cols values in [0, 1] as coloured cells with their value printed (two decimals).
inline std::string heatmap(const std::string& title, const std::vector<std::vector<double>>& values,
                           const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                           const std::string& row_title, const std::string& col_title) {
    // Column labels slant up to the right at 45 degrees: ten class names side by side at 11 px
    // overlap a 34 px cell ("automobile" is about 60 px). The top margin and the right edge make
    // room for the longest (about 6 px a character at the tick size).
    const double cell = 34, left = 70, char_width = 6.0, slant = 0.7071;
    std::size_t longest = 0;
    for (const auto& l : col_labels) longest = std::max(longest, l.size());
    const double label_reach = slant * char_width * double(longest);
    const double top = 38 + label_reach;
    Frame f;
    f.width = left + cell * double(col_labels.size()) + std::max(10.0, label_reach - cell / 2);
    f.height = top + cell * double(row_labels.size()) + 10;
    std::string s = detail::open_svg(f, title);
    s += "<text x=\"" + num(left + cell * double(col_labels.size()) / 2) + "\" y=\"12\" class=\"axis\" text-anchor=\"middle\">" +
         escape(col_title) + "</text>";
    s += "<text transform=\"translate(12 " + num(top + cell * double(row_labels.size()) / 2) +
         ") rotate(-90)\" class=\"axis\" text-anchor=\"middle\">" + escape(row_title) + "</text>";
    for (std::size_t c = 0; c < col_labels.size(); ++c) {
        const std::string x = num(left + cell * (double(c) + 0.5) - 3), y = num(top - 6);
        s += "<text x=\"" + x + "\" y=\"" + y + "\" transform=\"rotate(-45 " + x + " " + y +
             ")\" class=\"tick\" text-anchor=\"start\">" + escape(col_labels[c]) + "</text>";
    }
    for (std::size_t r = 0; r < values.size() && r < row_labels.size(); ++r) {
        const double y = top + cell * double(r);
        s += "<text x=\"" + num(left - 6) + "\" y=\"" + num(y + cell / 2 + 4) + "\" class=\"tick\" text-anchor=\"end\">" +
             escape(row_labels[r]) + "</text>";
        for (std::size_t c = 0; c < values[r].size() && c < col_labels.size(); ++c) {
            const double v = values[r][c];
            const double x = left + cell * double(c);
            s += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(cell - 1) + "\" height=\"" +
                 num(cell - 1) + "\" fill=\"" + ramp(v) + "\"><title>" +
                 escape(row_labels[r] + " -> " + col_labels[c] + ": " + num(v, 3)) + "</title></rect>";
            s += "<text x=\"" + num(x + cell / 2) + "\" y=\"" + num(y + cell / 2 + 4) + "\" class=\"cell\" fill=\"" +
                 (v > 0.55 ? "#000" : "#fff") + "\" text-anchor=\"middle\">" + num(v, 2) + "</text>";
        }
    }
    return s + "</svg>";
}

struct Point {
    double x = 0, y = 0;
    ClassIndex label = 0;  // the true class: the colour
    bool marked = false;   // drawn as a ring on top (the forget class)
};

/// Points coloured by label (colour(label)); marked points drawn last as black-edged rings.
inline std::string scatter(const std::string& title, const std::vector<Point>& points,
                           const std::vector<std::string>& label_names, Frame f = {}) {
    f.height = std::max(f.height, 420.0);
    f.width = std::max(f.width, 640.0);
    f.bottom = 16;
    f.left = 16;
    std::vector<Series> bounds(1);
    for (const auto& p : points) {
        bounds[0].x.push_back(p.x);
        bounds[0].y.push_back(p.y);
    }
    // Plain names, not structured bindings: a lambda below uses them (Clang < 16 refuses to
    // capture a structured binding, a C++20 addition).
    const auto x_range = detail::range_of(bounds, true), y_range = detail::range_of(bounds, false);
    const double x0 = x_range.first, x1 = x_range.second, y0 = y_range.first, y1 = y_range.second;
    std::string s = detail::open_svg(f, title) + detail::legend(f, label_names, false);
    s += "<rect x=\"" + num(f.left) + "\" y=\"" + num(f.top) + "\" width=\"" + num(f.plot_w()) + "\" height=\"" +
         num(f.plot_h()) + "\" class=\"frame\"/>";
    auto at = [&](const Point& p) {
        return std::make_pair(f.left + 4 + (f.plot_w() - 8) * (p.x - x0) / (x1 - x0),
                              f.top + 4 + (f.plot_h() - 8) * (1.0 - (p.y - y0) / (y1 - y0)));
    };
    for (int pass = 0; pass < 2; ++pass)
        for (const auto& p : points) {
            if (p.marked != (pass == 1)) continue;
            const auto [px, py] = at(p);
            s += "<circle cx=\"" + num(px, 1) + "\" cy=\"" + num(py, 1) + "\" r=\"" + (p.marked ? "3.2" : "2.2") +
                 "\" fill=\"" + colour(std::size_t(std::max<ClassIndex>(0, p.label))) + "\"" +
                 (p.marked ? " stroke=\"#000\" stroke-width=\"1\"" : "") + "/>";
        }
    return s + "</svg>";
}

}  // namespace salun::report::svg
