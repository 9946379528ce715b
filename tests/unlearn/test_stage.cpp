// SPDX-License-Identifier: MIT
// The stages of a run have the names progress output prints, one each.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "salun/unlearn/stage.hpp"

using salun::unlearn::Stage;
using salun::unlearn::stage_name;

TEST_CASE("stage_name: the printed name of every stage, all different") {
    const Stage all[] = {Stage::Saliency, Stage::Resumed, Stage::Unlearn, Stage::EvalTrain, Stage::EvalTest,
                         Stage::Points,   Stage::Attack,  Stage::Cka,     Stage::Privacy};
    std::set<std::string> names;
    for (Stage s : all) names.insert(stage_name(s));
    CHECK(names.size() == 9);
    CHECK(std::string(stage_name(Stage::Saliency)) == "saliency");
    CHECK(std::string(stage_name(Stage::EvalTrain)) == "eval-train");
    CHECK(std::string(stage_name(Stage::EvalTest)) == "eval-test");
    CHECK(std::string(stage_name(Stage::Privacy)) == "privacy");
}
