// SPDX-License-Identifier: MIT
// A small command-line parser for salun-demo: `--name value` options with defaults, `--flag`
// switches, generated --help text, and a clear error for unknown or malformed options.
#pragma once

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace demo {

/// Bad command line: main prints the message and the usage, and exits with status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Args {
public:
    Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

    /// An option taking a value; an empty default means "not set".
    Args& option(const std::string& name, const std::string& def, const std::string& help) {
        specs_.push_back({name, def, help, false, false});
        values_[name] = def;
        return *this;
    }
    /// An option the command cannot run without: marked "(required)" in --help.
    Args& required_option(const std::string& name, const std::string& help) {
        specs_.push_back({name, "", help, false, true});
        values_[name] = "";
        return *this;
    }
    Args& flag(const std::string& name, const std::string& help) {
        specs_.push_back({name, "", help, true, false});
        return *this;
    }
    /// A required positional argument (`convert IN OUT`), in order; read it with str(name).
    Args& positional(const std::string& name, const std::string& help) {
        positionals_.push_back({name, "", help, false, true});
        return *this;
    }

    /// A one-letter spelling of an option taking a value (`-o FILE` for `--out FILE`).
    Args& short_name(char letter, const std::string& name) {
        shorts_[std::string("-") + letter] = name;
        return *this;
    }

    /// Returns false when --help was given (help already printed to `out`).
    bool parse(const std::vector<std::string>& argv, std::ostream& out = std::cout) {
        for (std::size_t i = 0; i < argv.size(); ++i) {
            const auto alias = shorts_.find(argv[i]);
            const std::string a = alias != shorts_.end() ? "--" + alias->second : argv[i];
            if (a == "--help" || a == "-h") {
                out << help();
                return false;
            }
            if (a.rfind("--", 0) != 0) {
                if (next_positional_ >= positionals_.size()) throw UsageError("unexpected argument '" + a + "'");
                values_[positionals_[next_positional_++].name] = a;
                continue;
            }
            std::string name = a.substr(2), value;
            const auto eq = name.find('=');
            bool has_value = false;
            if (eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                has_value = true;
            }
            const Spec* spec = find(name);
            if (!spec) throw UsageError("unknown option --" + name + " for '" + command_ + "'");
            if (spec->is_flag) {
                if (has_value) throw UsageError("--" + name + " takes no value");
                flags_[name] = true;
                continue;
            }
            if (!has_value) {
                if (i + 1 >= argv.size()) throw UsageError("--" + name + " needs a value");
                value = argv[++i];
            }
            values_[name] = value;
        }
        if (next_positional_ < positionals_.size())
            throw UsageError("'" + command_ + "' needs " + positionals_[next_positional_].name);
        return true;
    }

    bool has(const std::string& name) const {
        auto it = values_.find(name);
        return it != values_.end() && !it->second.empty();
    }
    bool flag_set(const std::string& name) const { return flags_.count(name) > 0; }
    std::string str(const std::string& name) const { return values_.at(name); }
    std::string required(const std::string& name) const {
        if (!has(name)) throw UsageError("--" + name + " is required for '" + command_ + "'");
        return str(name);
    }
    long integer(const std::string& name) const { return parse_number<long>(name, [](const std::string& s, std::size_t* p) { return std::stol(s, p); }); }
    /// A finite number: "inf" and "nan" parse as doubles but mean nothing as an option.
    double real(const std::string& name) const {
        const double v = parse_number<double>(name, [](const std::string& s, std::size_t* p) { return std::stod(s, p); });
        if (!std::isfinite(v)) throw UsageError("--" + name + " expects a finite number, got '" + str(name) + "'");
        return v;
    }

    std::string help() const {
        std::ostringstream os;
        os << "usage: salun-demo " << command_;
        for (const Spec& p : positionals_) os << " " << p.name;
        for (const Spec& s : specs_)
            if (s.required) os << " --" << s.name << " VALUE";
        os << " [options]\n\n" << summary_ << "\n\n";
        for (const Spec& p : positionals_) {
            std::string left = "  " + p.name;
            if (left.size() < 28) left.resize(28, ' ');
            os << left << " " << p.help << "\n";
        }
        if (!positionals_.empty()) os << "\n";
        os << "options:\n";
        for (const Spec& s : specs_) {
            std::string left = "  --" + s.name + (s.is_flag ? "" : " VALUE");
            if (left.size() < 28) left.resize(28, ' ');
            os << left << " " << s.help;
            if (s.required) os << " (required)";
            if (!s.is_flag && !s.def.empty()) os << " (default: " << s.def << ")";
            os << "\n";
        }
        os << "  --help                       show this help\n";
        return os.str();
    }

private:
    std::map<std::string, std::string> shorts_;  ///< "-o" -> "out"
    struct Spec {
        std::string name, def, help;
        bool is_flag, required;
    };
    const Spec* find(const std::string& name) const {
        for (const Spec& s : specs_)
            if (s.name == name) return &s;
        return nullptr;
    }
    template <class N, class F>
    N parse_number(const std::string& name, F f) const {
        const std::string s = required(name);
        std::size_t pos = 0;
        N v{};
        try {
            v = f(s, &pos);
        } catch (const std::exception&) {
            pos = 0;
        }
        if (pos != s.size() || s.empty()) throw UsageError("--" + name + " expects a number, got '" + s + "'");
        return v;
    }

    std::string command_, summary_;
    std::vector<Spec> specs_, positionals_;
    std::size_t next_positional_ = 0;
    std::map<std::string, std::string> values_;
    std::map<std::string, bool> flags_;
};

}  // namespace demo
