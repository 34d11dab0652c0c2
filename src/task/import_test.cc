// Importing KernelBench- and robust-kbench-form problems (files written here in their layout,
// not copied from either project): what lands on disk loads as torch tasks with the right
// configurations, and bad input is reported, not half-imported.
#include "task/import.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/json.h"
#include "task/task.h"

namespace kf::task {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir(const std::string& prefix) {
  auto dir = core::MakeUniqueDir(fs::path(testing::TempDir()) / "kf_import_test", prefix);
  KF_CHECK(dir.ok());
  return *dir;
}

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  KF_CHECK(core::WriteFileAtomic(path, text).ok());
}

const char* kScaleProblem = R"PY(import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor

def get_inputs():
    return [torch.randn(64, 32)]

def get_init_inputs():
    return [2.5]
)PY";

TEST(ImportKernelBench, WritesOneTorchTaskPerProblemOfTheChosenLevel) {
  const fs::path kb = FreshDir("kb-");
  Write(kb / "KernelBench" / "level1" / "1_Scale_by_factor.py", kScaleProblem);
  Write(kb / "KernelBench" / "level1" / "12_Another (odd) name.py", kScaleProblem);
  Write(kb / "KernelBench" / "level1" / "7_Broken.py", "import torch\n");
  Write(kb / "KernelBench" / "level1" / "notes.txt", "not a problem\n");
  Write(kb / "KernelBench" / "level2" / "1_Other.py", kScaleProblem);
  const fs::path out = FreshDir("out-");

  auto report = ImportKernelBench(kb, out, KernelBenchImport{1, {}});
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->task_dirs.size(), 2u);
  EXPECT_EQ(report->task_dirs[0], out / "level1" / "001_Scale_by_factor");
  ASSERT_EQ(report->skipped.size(), 1u);
  EXPECT_NE(report->skipped[0].find("7_Broken.py"), std::string::npos) << report->skipped[0];
  EXPECT_NE(report->skipped[0].find("does not define get_inputs"), std::string::npos) << report->skipped[0];
  EXPECT_FALSE(fs::exists(out / "level1" / "007_Broken")) << "a package that does not load is removed";
  EXPECT_FALSE(fs::exists(out / "level2"));

  auto task = LoadTask(report->task_dirs[1]);
  ASSERT_TRUE(task.ok()) << task.error().ToString();
  EXPECT_EQ(task->name, "kb_l1_012_another__odd__name");
  EXPECT_EQ(task->backend, Backend::kTorch);
  EXPECT_EQ(task->reference_source, kScaleProblem);
  EXPECT_EQ(task->shapes.size(), 1u);
  EXPECT_NE(task->instructions.find("ModelNew"), std::string::npos);
}

TEST(ImportKernelBench, SelectsProblemsAndRejectsOnesThatDoNotExist) {
  const fs::path kb = FreshDir("kb-");
  for (int i = 1; i <= 5; ++i) Write(kb / "level3" / fmt::format("{}_P{}.py", i, i), kScaleProblem);
  const fs::path out = FreshDir("out-");
  auto report = ImportKernelBench(kb, out, KernelBenchImport{3, {2, 4}});
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->task_dirs.size(), 2u);
  EXPECT_EQ(report->task_dirs[1].filename(), "004_P4");
  auto missing = ImportKernelBench(kb, out, KernelBenchImport{3, {9}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("level 3 has no problem 9"), std::string::npos) << missing.error().message;
  auto no_level = ImportKernelBench(kb, out, KernelBenchImport{1, {}});
  ASSERT_FALSE(no_level.ok());
  auto nothing = ImportKernelBench(FreshDir("empty-"), out, KernelBenchImport{});
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.error().code, core::ErrorCode::kNotFound);
}

TEST(ParseProblemList, ReadsIdsAndRanges) {
  EXPECT_EQ(*ParseProblemList("3,1,5-7"), (std::vector<int>{1, 3, 5, 6, 7}));
  EXPECT_FALSE(ParseProblemList("1,,2").ok());
  EXPECT_FALSE(ParseProblemList("7-5").ok());
  EXPECT_FALSE(ParseProblemList("x").ok());
}

const char* kNormForward = R"PY(import torch
import torch.nn as nn
import torch.nn.functional as F

def forward_fn(x, weight, eps):
    return F.layer_norm(x, (x.shape[-1],), weight, None, eps)

class Model(nn.Module):
    def __init__(self, features, eps=1e-5, init_method="standard"):
        super().__init__()
        self.eps = eps
        w = torch.ones(features) if init_method == "standard" else torch.randn(features)
        self.weight = nn.Parameter(w)

    def forward(self, x, fn=forward_fn):
        return fn(x, self.weight, self.eps)

def get_inputs(batch_size=4, features=16):
    return [torch.randn(batch_size, features, requires_grad=True)]
)PY";

const char* kNormConfig = R"JSON({
  "single_input_configs": [{"batch_size": 2}],
  "single_init_configs": [{"init_method": "random"}],
  "single_shared_configs": [{"features": 16}],
  "multi_input_configs": [{"batch_size": 2}, {"batch_size": 8}],
  "multi_init_configs": [{"init_method": "random"}, {"init_method": "standard"}],
  "multi_shared_configs": [{"features": 16}]
})JSON";

TEST(ImportRobustKbench, CoversForwardBackwardAndEveryInputConfiguration) {
  const fs::path rkb = FreshDir("rkb-");
  Write(rkb / "tasks" / "norm" / "func_forward.py", kNormForward);
  Write(rkb / "tasks" / "norm" / "config_forward.json", kNormConfig);
  Write(rkb / "tasks" / "norm" / "func_backward.py", kNormForward);
  Write(rkb / "tasks" / "norm" / "config_backward.json", kNormConfig);
  Write(rkb / "tasks" / "suite" / "level_1" / "task_3" / "func_forward.py", kNormForward);
  Write(rkb / "tasks" / "bad" / "func_forward.py", kNormForward);
  Write(rkb / "tasks" / "bad" / "config_forward.json", "{\"single_input_configs\": 3}");
  const fs::path out = FreshDir("out-");

  auto report = ImportRobustKbench(rkb, out, RobustKbenchImport{});
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->task_dirs.size(), 3u);
  ASSERT_EQ(report->skipped.size(), 1u);
  EXPECT_NE(report->skipped[0].find("'single_input_configs' must be a list of objects"), std::string::npos)
      << report->skipped[0];

  auto fwd = LoadTask(out / "norm_fwd");
  ASSERT_TRUE(fwd.ok()) << fwd.error().ToString();
  EXPECT_EQ(fwd->name, "rkb_norm_fwd");
  EXPECT_FALSE(fwd->torch.backward);
  // single: 1 x 1 x 1; multi: 2 inits x 2 inputs, one of which repeats the single one.
  ASSERT_EQ(fwd->torch.configs.size(), 4u);
  EXPECT_EQ(fwd->torch.configs[0].label, "batch_size=2,features=16,init_method=random");
  EXPECT_EQ(core::Json::parse(fwd->torch.configs[0].inputs_json), core::Json::parse(R"({"batch_size": 2, "features": 16})"));
  EXPECT_EQ(core::Json::parse(fwd->torch.configs[0].init_json),
            core::Json::parse(R"({"init_method": "random", "features": 16})"));
  EXPECT_EQ(fwd->shapes.size(), 4u);
  EXPECT_NE(fwd->reference_source.find("def get_init_inputs(**config)"), std::string::npos)
      << "Model takes keyword arguments: an adapter orders them";

  auto bwd = LoadTask(out / "norm_bwd");
  ASSERT_TRUE(bwd.ok()) << bwd.error().ToString();
  EXPECT_TRUE(bwd->torch.backward);
  EXPECT_NE(bwd->instructions.find("gradients"), std::string::npos);

  auto nested = LoadTask(out / "suite_level_1_task_3_fwd");
  ASSERT_TRUE(nested.ok()) << nested.error().ToString();
  ASSERT_EQ(nested->torch.configs.size(), 1u) << "no config file: the defaults of get_inputs()";
  EXPECT_EQ(nested->torch.configs[0].label, "default");

  auto only = ImportRobustKbench(rkb, FreshDir("out-"), RobustKbenchImport{true, false, {"norm"}});
  ASSERT_TRUE(only.ok()) << only.error().ToString();
  EXPECT_EQ(only->task_dirs.size(), 1u);
  auto unknown = ImportRobustKbench(rkb, FreshDir("out-"), RobustKbenchImport{true, true, {"nope"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("no task 'nope'"), std::string::npos);
}

}  // namespace
}  // namespace kf::task
