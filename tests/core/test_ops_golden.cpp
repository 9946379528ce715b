// SPDX-License-Identifier: MIT
// Golden tests: every op against PyTorch 1.13 (float32), forward and backward, on the fixtures
// written by tests/fixtures/gen_ops_fixtures.py (see tests/fixtures/README.md).
//
// One generic runner in the style of tinygrad's helper_test_op: for each case of a fixture file it
// loads the inputs as float tensors (requires_grad for the inputs PyTorch differentiated), runs the
// salun op from the table below, compares the output, calls backward(grad_out) with PyTorch's
// upstream gradient and compares every input's .grad(); in-place state (batch_norm's running
// statistics) is compared after the forward pass. Every failure names the case and the tensor.
//
// Tolerance: |salun - torch| <= atol * max|torch| + rtol * |torch| elementwise, rtol = 1e-5 and
// atol = 1e-6 relative to the largest reference magnitude of that tensor, unless an op's entry
// says otherwise (and why). Set SALUN_GOLDEN_REPORT=1 to print the worst error seen per op.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/io/safetensors.hpp"
#include "salun/ops.hpp"

namespace {

using salun::Shape;
using TensorF = salun::Tensor<float>;
using nlohmann::json;

std::string fixture_path(const std::string& file) { return std::string(SALUN_FIXTURES_DIR) + "/" + file; }

/// One fixture case: its parameters and its inputs, loaded as float tensors.
struct Case {
    std::string name;
    json params;
    std::map<std::string, TensorF> inputs;

    /// A required input.
    TensorF in(const std::string& key) const {
        auto it = inputs.find(key);
        SALUN_CHECK(it != inputs.end(), "golden case ", name, ": no input '", key, "'");
        return it->second;
    }
    /// An optional input (bias, weight, running stats): undefined when the case left it out.
    TensorF opt(const std::string& key) const {
        auto it = inputs.find(key);
        return it == inputs.end() ? TensorF() : it->second;
    }
    template <class V>
    V p(const char* key) const {
        SALUN_CHECK(params.contains(key), "golden case ", name, ": no parameter '", key, "'");
        return params.at(key).get<V>();
    }
    std::size_t sz(const char* key) const { return p<std::size_t>(key); }
};

struct OpSpec {
    std::function<TensorF(const Case&)> run;
    double rtol = 1e-5;
    double atol = 1e-6;  // times max|reference| of each compared tensor
};

// Why atol scales with max|torch| instead of being absolute: salun and PyTorch sum in different
// orders (double accumulators and blocked GEMM here; float, vectorised, MKL-DNN there). Where an
// element is a sum of terms that cancel (conv/matmul/linear outputs and gradients, the batch_norm
// training backward g - mean(g) - xhat * mean(g * xhat)), its error is ~K * eps * max|term|, not
// rtol * |element|; 1e-6 of the tensor's largest magnitude covers that for these sizes (worst
// use of the tolerance measured: < 0.1). No op currently needs a looser entry.

const std::map<std::string, OpSpec>& op_table() {
    using namespace salun;
    static const std::map<std::string, OpSpec> table{
        // ---- arithmetic (broadcasting, scalar operators) ----
        {"add", {[](const Case& c) { return c.in("a") + c.in("b"); }}},
        {"sub", {[](const Case& c) { return c.in("a") - c.in("b"); }}},
        {"mul", {[](const Case& c) { return c.in("a") * c.in("b"); }}},
        {"div", {[](const Case& c) { return c.in("a") / c.in("b"); }}},
        {"neg", {[](const Case& c) { return -c.in("a"); }}},
        {"add_scalar", {[](const Case& c) { return c.in("a") + c.p<double>("s"); }}},
        {"sub_scalar", {[](const Case& c) { return c.in("a") - c.p<double>("s"); }}},
        {"rsub_scalar", {[](const Case& c) { return c.p<double>("s") - c.in("a"); }}},
        {"mul_scalar", {[](const Case& c) { return c.in("a") * c.p<double>("s"); }}},
        {"rmul_scalar", {[](const Case& c) { return c.p<double>("s") * c.in("a"); }}},
        {"div_scalar", {[](const Case& c) { return c.in("a") / c.p<double>("s"); }}},
        {"scalar_chain", {[](const Case& c) { return (c.in("a") * 3.0 - 1.0) / 2.0 + 0.5; }}},
        // ---- reductions ----
        {"sum", {[](const Case& c) { return salun::sum(c.in("x")); }}},
        {"mean", {[](const Case& c) { return salun::mean(c.in("x")); }}},
        {"sum_dim", {[](const Case& c) { return salun::sum(c.in("x"), c.sz("dim"), c.p<bool>("keepdim")); }}},
        {"mean_dim", {[](const Case& c) { return salun::mean(c.in("x"), c.sz("dim"), c.p<bool>("keepdim")); }}},
        // ---- matrix products and convolution ----
        {"matmul", {[](const Case& c) { return matmul(c.in("a"), c.in("b")); }}},
        {"linear", {[](const Case& c) { return linear(c.in("x"), c.in("w"), c.opt("b")); }}},
        {"conv2d",
         {[](const Case& c) { return conv2d(c.in("x"), c.in("w"), c.opt("b"), c.sz("stride"), c.sz("padding")); }}},
        // ---- pooling ----
        {"max_pool2d", {[](const Case& c) { return max_pool2d(c.in("x"), c.sz("kernel"), c.sz("stride"), c.sz("padding")); }}},
        {"avg_pool2d", {[](const Case& c) { return avg_pool2d(c.in("x"), c.sz("kernel"), c.sz("stride"), c.sz("padding")); }}},
        {"adaptive_avg_pool2d", {[](const Case& c) { return adaptive_avg_pool2d(c.in("x"), c.sz("out_h"), c.sz("out_w")); }}},
        // ---- batch_norm (training: batch statistics, running stats updated; eval: running stats) ----
        {"batch_norm",
         {[](const Case& c) {
              return batch_norm(c.in("x"), c.opt("running_mean"), c.opt("running_var"), c.opt("weight"), c.opt("bias"),
                                c.p<bool>("training"), c.p<double>("momentum"), c.p<double>("eps"));
          }}},
        // fused relu(batch_norm(...)); the fixture keeps every pre-activation 1e-3 away from 0
        {"batch_norm_relu",
         {[](const Case& c) {
              return batch_norm_relu(c.in("x"), c.opt("running_mean"), c.opt("running_var"), c.opt("weight"),
                                     c.opt("bias"), c.p<bool>("training"), c.p<double>("momentum"), c.p<double>("eps"));
          }}},
        // fused relu(batch_norm(...) + residual); pre-activations 1e-3 away from 0 as above
        {"batch_norm_add_relu",
         {[](const Case& c) {
              return batch_norm_add_relu(c.in("x"), c.opt("running_mean"), c.opt("running_var"), c.opt("weight"),
                                         c.opt("bias"), c.in("residual"), c.p<bool>("training"),
                                         c.p<double>("momentum"), c.p<double>("eps"));
          }}},
        // ---- activations and losses ----
        {"relu", {[](const Case& c) { return relu(c.in("x")); }}},
        {"softmax", {[](const Case& c) { return softmax(c.in("x"), c.sz("dim")); }}},
        {"log_softmax", {[](const Case& c) { return log_softmax(c.in("x"), c.sz("dim")); }}},
        {"cross_entropy", {[](const Case& c) { return cross_entropy(c.in("x"), c.p<std::vector<std::int64_t>>("targets")); }}},
        {"nll_loss", {[](const Case& c) { return nll_loss(c.in("x"), c.p<std::vector<std::int64_t>>("targets")); }}},
        // ---- views ----
        {"reshape", {[](const Case& c) { return c.in("x").reshape(c.p<std::vector<long>>("shape")); }}},
        {"flatten", {[](const Case& c) { return c.in("x").flatten(c.sz("start_dim")); }}},
        {"slice", {[](const Case& c) { return c.in("x").slice(c.sz("start"), c.sz("end")); }}},
    };
    return table;
}

const std::vector<std::string> kFixtureFiles{
    "ops_arith.safetensors", "ops_reduce.safetensors",     "ops_linear.safetensors",
    "ops_conv.safetensors",  "ops_pool.safetensors",       "ops_batchnorm.safetensors",
    "ops_activation.safetensors", "ops_loss.safetensors", "ops_shape.safetensors",
};

/// Worst errors seen per op, for SALUN_GOLDEN_REPORT.
struct Worst {
    double rel = 0;       // max|a-b| / max|b| over one tensor (normwise relative error)
    double tol_used = 0;  // max over elements of |a-b| / (atol + rtol|b|): fails above 1
    std::string where;
    int tensors = 0;
    std::set<std::string> cases;
};
std::map<std::string, Worst>& worst_per_op() {
    static std::map<std::string, Worst> w;
    return w;
}

/// Compares `got` with the reference `want` elementwise; reports the first bad element and the count.
void compare(const std::string& op, const std::string& where, const TensorF& got, const TensorF& want,
             const OpSpec& spec) {
    if (!got.defined()) {
        FAIL_CHECK(where << ": salun produced no tensor (expected shape " << salun::shape_str(want.shape()) << ")");
        return;
    }
    if (got.shape() != want.shape()) {
        FAIL_CHECK(where << ": shape " << salun::shape_str(got.shape()) << " != PyTorch "
                         << salun::shape_str(want.shape()));
        return;
    }
    double scale = 0, max_abs = 0, tol_used = 0;
    for (float v : want) scale = std::max(scale, std::abs(double(v)));
    const double atol = spec.atol * scale;
    std::size_t bad = 0, first_bad = 0;
    for (std::size_t i = 0; i < want.numel(); ++i) {
        const double a = got.data()[i], b = want.data()[i];
        const double err = std::abs(a - b), tol = atol + spec.rtol * std::abs(b);
        const bool ok = err <= tol || (std::isinf(a) && a == b);
        if (!ok && bad++ == 0) first_bad = i;
        if (std::isfinite(err)) {
            max_abs = std::max(max_abs, err);
            if (tol > 0) tol_used = std::max(tol_used, err / tol);
        } else if (!ok) {
            tol_used = max_abs = INFINITY;
        }
    }
    Worst& w = worst_per_op()[op];
    const double rel = scale > 0 ? max_abs / scale : max_abs;
    ++w.tensors;
    if (rel > w.rel || w.where.empty()) {
        w.rel = rel;
        w.where = where;
    }
    w.tol_used = std::max(w.tol_used, tol_used);
    if (bad) {
        FAIL_CHECK(where << ": " << bad << " of " << want.numel() << " elements differ from PyTorch; first at flat index "
                         << first_bad << ": salun " << std::setprecision(9) << got.data()[first_bad] << " vs torch "
                         << want.data()[first_bad] << " (max |diff| " << max_abs << ", max|torch| " << scale
                         << ", rtol " << spec.rtol << ", atol " << atol << ")");
    }
}

/// Runs every case of one fixture file through the op table.
void run_fixture_file(const std::string& file) {
    const auto st = salun::io::load_safetensors(fixture_path(file));
    const auto cases = json::parse(st.metadata.at("cases"));
    REQUIRE_MESSAGE(!cases.empty(), file << ": no cases");
    for (const auto& case_name_json : cases) {
        const std::string name = case_name_json.get<std::string>();
        Case c;
        c.name = name;
        c.params = json::parse(st.metadata.at(name));
        const std::string op = c.params.at("op").get<std::string>();
        const std::string label = file + " case '" + name + "' (op " + op + ")";
        INFO(label);
        auto spec_it = op_table().find(op);
        if (spec_it == op_table().end()) {
            FAIL_CHECK(label << ": op not in the golden op table");
            continue;
        }
        const OpSpec& spec = spec_it->second;
        const auto grads = c.params.at("grad").get<std::vector<std::string>>();
        const auto state = c.params.at("state").get<std::vector<std::string>>();
        for (const auto& in : c.params.at("inputs").get<std::vector<std::string>>()) {
            TensorF t = st.tensors.at(name + "/" + in).to_tensor<float>();
            if (std::find(grads.begin(), grads.end(), in) != grads.end()) t.set_requires_grad(true);
            c.inputs.emplace(in, t);
        }
        worst_per_op()[op].cases.insert(name);

        TensorF out;
        try {
            out = spec.run(c);
        } catch (const std::exception& e) {
            FAIL_CHECK(label << ": forward threw: " << e.what());
            continue;
        }
        compare(op, label + " output", out, st.tensors.at(name + "/out").to_tensor<float>(), spec);
        for (const auto& s : state)
            compare(op, label + " " + s + " after forward", c.in(s), st.tensors.at(name + "/" + s + ".after").to_tensor<float>(),
                    spec);
        if (grads.empty()) continue;
        try {
            out.backward(st.tensors.at(name + "/grad_out").to_tensor<float>());
        } catch (const std::exception& e) {
            FAIL_CHECK(label << ": backward threw: " << e.what());
            continue;
        }
        for (const auto& g : grads)
            compare(op, label + " grad of " + g, c.in(g).grad(), st.tensors.at(name + "/grad." + g).to_tensor<float>(),
                    spec);
    }
}

}  // namespace

TEST_CASE("golden vs PyTorch: arithmetic with broadcasting and scalars") { run_fixture_file("ops_arith.safetensors"); }
TEST_CASE("golden vs PyTorch: sum and mean") { run_fixture_file("ops_reduce.safetensors"); }
TEST_CASE("golden vs PyTorch: matmul and linear") { run_fixture_file("ops_linear.safetensors"); }
TEST_CASE("golden vs PyTorch: conv2d") { run_fixture_file("ops_conv.safetensors"); }
TEST_CASE("golden vs PyTorch: max, avg and adaptive pooling") { run_fixture_file("ops_pool.safetensors"); }
TEST_CASE("golden vs PyTorch: batch_norm, batch_norm_relu and batch_norm_add_relu") { run_fixture_file("ops_batchnorm.safetensors"); }
TEST_CASE("golden vs PyTorch: relu, softmax, log_softmax") { run_fixture_file("ops_activation.safetensors"); }
TEST_CASE("golden vs PyTorch: cross_entropy and nll_loss") { run_fixture_file("ops_loss.safetensors"); }
TEST_CASE("golden vs PyTorch: reshape, flatten, slice") { run_fixture_file("ops_shape.safetensors"); }

TEST_CASE("golden vs PyTorch: every op of the table has fixture cases") {
    std::set<std::string> ops_in_fixtures;
    for (const auto& file : kFixtureFiles) {
        const auto st = salun::io::load_safetensors(fixture_path(file));
        for (const auto& name : json::parse(st.metadata.at("cases")))
            ops_in_fixtures.insert(json::parse(st.metadata.at(name.get<std::string>())).at("op").get<std::string>());
    }
    for (const auto& [op, spec] : op_table()) CHECK_MESSAGE(ops_in_fixtures.count(op), "op " << op << " has no golden case");

    if (std::getenv("SALUN_GOLDEN_REPORT")) {  // after the per-family tests in this file (doctest runs in file order)
        std::cout << "golden report: worst normwise relative error max|salun-torch|/max|torch| per op\n";
        for (const auto& [op, w] : worst_per_op())
            std::cout << "  " << std::left << std::setw(20) << op << " rel " << std::scientific << std::setprecision(2)
                      << w.rel << "  tol used " << std::fixed << std::setprecision(3) << w.tol_used << "  cases "
                      << w.cases.size() << "  tensors " << w.tensors << "  worst at: " << w.where << "\n";
    }
}
