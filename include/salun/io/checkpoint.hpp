// SPDX-License-Identifier: MIT
// Checkpoint files of either format, recognised by their content rather than their name:
// safetensors (an 8-byte header length, then a JSON object) or a PyTorch .pth / .pt (a zip
// archive). load_checkpoint() gives the state dict either way; save_checkpoint() picks the format
// from the output's extension. Also the two adjustments PyTorch checkpoints commonly need before
// Module::load_state_dict: DataParallel's "module." prefix, and the input normalisation some
// models carry as buffers ("normalize.mean" / "normalize.std", as in the official SalUn
// checkpoints), which belongs to the data pipeline, not the network.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/io/safetensors.hpp"
#include "salun/io/state_dict.hpp"
#include "salun/io/torch_checkpoint.hpp"

namespace salun::io {

enum class CheckpointFormat { Safetensors, TorchZip };

inline const char* format_name(CheckpointFormat f) { return f == CheckpointFormat::Safetensors ? "safetensors" : "pth"; }

/// The format of the checkpoint in the first bytes of a file (at least 9 of them to tell).
inline CheckpointFormat detect_checkpoint_format(const std::uint8_t* head, std::size_t n, const std::string& file) {
    if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return CheckpointFormat::TorchZip;
    // safetensors: a little-endian header length, then the header's '{'.
    if (n >= 9 && head[8] == '{') return CheckpointFormat::Safetensors;
    // torch.save before PyTorch 1.6 (or _use_new_zipfile_serialization=False) starts with a pickle.
    SALUN_CHECK(!(n >= 2 && head[0] == 0x80 && head[1] <= 5), file,
                ": a legacy (pre-1.6, non-zip) torch.save file, which salun does not read: re-save it with "
                "torch.save(torch.load(f), g) in PyTorch >= 1.6, or convert it to safetensors");
    ::salun::detail::throw_error(file, ": neither a safetensors file nor a PyTorch zip checkpoint (",
                        n < 9 ? "too short" : "unknown first bytes", ")");
}

/// The format of the checkpoint file at `path`.
inline CheckpointFormat detect_checkpoint_format(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    SALUN_CHECK(in.is_open(), "cannot open checkpoint '", path, "': ", std::strerror(errno));
    std::uint8_t head[16] = {};
    in.read(reinterpret_cast<char*>(head), sizeof head);
    return detect_checkpoint_format(head, static_cast<std::size_t>(in.gcount()), path);
}

/// A state dict from either format.
struct Checkpoint {
    StateDict tensors;
    std::map<std::string, std::string> metadata;  ///< safetensors' __metadata__ (a .pth has none)
    CheckpointFormat format = CheckpointFormat::Safetensors;
    std::string found_at;  ///< .pth: where the state dict was ("" top level, "state_dict", ...)
};

/// Reads the checkpoint at `path`, whatever its name says.
inline Checkpoint load_checkpoint(const std::string& path) {
    Checkpoint c;
    c.format = detect_checkpoint_format(path);
    if (c.format == CheckpointFormat::TorchZip) {
        auto t = load_torch_checkpoint(path);
        c.tensors = std::move(t.tensors);
        c.found_at = std::move(t.found_at);
    } else {
        auto s = load_safetensors(path);
        c.tensors = std::move(s.tensors);
        c.metadata = std::move(s.metadata);
    }
    return c;
}

/// The format an output path asks for: .safetensors, or .pth / .pt (a PyTorch zip checkpoint).
inline CheckpointFormat format_for_path(const std::string& path) {
    auto ends = [&](const char* ext) {
        const std::size_t n = std::strlen(ext);
        return path.size() >= n && path.compare(path.size() - n, n, ext) == 0;
    };
    if (ends(".safetensors")) return CheckpointFormat::Safetensors;
    if (ends(".pth") || ends(".pt")) return CheckpointFormat::TorchZip;
    ::salun::detail::throw_error("'", path, "': cannot tell the checkpoint format to write from the name (use .safetensors, .pth or .pt)");
}

/// Writes a checkpoint in the format its extension names, atomically. `metadata` only goes into
/// safetensors (a .pth has no place for it).
inline void save_checkpoint(const std::string& path, const StateDict& tensors,
                            const std::map<std::string, std::string>& metadata = {}) {
    if (format_for_path(path) == CheckpointFormat::Safetensors)
        save_safetensors(path, tensors, metadata);
    else
        save_torch_checkpoint(path, tensors);
}

/// Removes `prefix` from every key when all keys start with it (DataParallel's "module.").
/// Returns true if it did.
inline bool strip_key_prefix(StateDict& sd, const std::string& prefix = "module.") {
    if (sd.empty()) return false;
    for (const auto& e : sd)
        if (e.first.compare(0, prefix.size(), prefix) != 0) return false;
    StateDict out;
    for (const auto& [k, v] : sd) {
        const std::string name = k.substr(prefix.size());
        SALUN_CHECK(!out.contains(name), "strip_key_prefix: '", k, "' and another key both become '", name, "'");
        out.insert_or_assign(name, v);
    }
    sd = std::move(out);
    return true;
}

/// Per-channel input normalisation, (x - mean) / std.
struct ChannelNormalization {
    std::vector<float> mean, std;
};

/// Takes "normalize.mean" and "normalize.std" (a model's input normalisation buffers, e.g. the
/// official SalUn checkpoints' NormalizeByChannelMeanStd) out of `sd`; nullopt when absent.
inline std::optional<ChannelNormalization> take_normalization(StateDict& sd, const std::string& prefix = "normalize.") {
    const std::string m = prefix + "mean", s = prefix + "std";
    if (!sd.contains(m) && !sd.contains(s)) return std::nullopt;
    SALUN_CHECK(sd.contains(m) && sd.contains(s), "checkpoint has only one of '", m, "' and '", s, "'");
    ChannelNormalization n;
    const auto mean = sd.at(m).to_tensor<float>(), stdev = sd.at(s).to_tensor<float>();
    SALUN_CHECK(mean.numel() == stdev.numel() && mean.numel() > 0, "checkpoint: '", m, "' ", shape_str(mean.shape()),
                " and '", s, "' ", shape_str(stdev.shape()), " must have as many channels");
    n.mean.assign(mean.data(), mean.data() + mean.numel());
    n.std.assign(stdev.data(), stdev.data() + stdev.numel());
    for (float x : n.std) SALUN_CHECK(x > 0, "checkpoint: '", s, "' holds ", x, ", which must be positive");
    sd.erase(m);
    sd.erase(s);
    return n;
}

}  // namespace salun::io
