#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/fs.h"
#include "llm/llm_client.h"

namespace kf::llm {
namespace {

// Each test gets its own KF_PRICES (or none) and restores the environment afterwards.
class PricingTest : public testing::Test {
 protected:
  void SetUp() override {
    unsetenv("KF_PRICES");
    dir_ = core::MakeUniqueDir(std::filesystem::temp_directory_path(), "kf-pricing-").value();
  }
  void TearDown() override {
    unsetenv("KF_PRICES");
    std::filesystem::remove_all(dir_);
  }
  std::string WritePriceFile(const std::string& json) {
    std::filesystem::path path = dir_ / "prices.json";
    EXPECT_TRUE(core::WriteFileAtomic(path, json).ok());
    setenv("KF_PRICES", path.c_str(), 1);
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(PricingTest, LongestPrefixWins) {
  std::optional<Price> mini = LookupPrice("gpt-4o-mini-2024-07-18");
  ASSERT_TRUE(mini.has_value());
  EXPECT_DOUBLE_EQ(mini->input_per_mtok, 0.15);
  EXPECT_DOUBLE_EQ(mini->output_per_mtok, 0.6);

  std::optional<Price> full = LookupPrice("gpt-4o-2024-08-06");
  ASSERT_TRUE(full.has_value());
  EXPECT_DOUBLE_EQ(full->input_per_mtok, 2.5);
  EXPECT_DOUBLE_EQ(full->output_per_mtok, 10.0);

  std::optional<Price> sonnet = LookupPrice("claude-sonnet-4-20250514");
  ASSERT_TRUE(sonnet.has_value());
  EXPECT_DOUBLE_EQ(sonnet->output_per_mtok, 15.0);
}

TEST_F(PricingTest, UnknownModelHasNoPrice) {
  EXPECT_FALSE(LookupPrice("llama3:8b").has_value());
  EXPECT_FALSE(LookupPrice("").has_value());
  // A prefix match is required: a name that merely contains a key does not match.
  EXPECT_FALSE(LookupPrice("my-gpt-4o").has_value());
}

TEST_F(PricingTest, CostIsUsdPerMillionTokens) {
  EXPECT_DOUBLE_EQ(CostUsd(Price{3.0, 15.0}, Usage{1'000'000, 2'000'000}), 33.0);
  EXPECT_DOUBLE_EQ(CostUsd(Price{2.5, 10.0}, Usage{1000, 500}), 0.0075);
  EXPECT_DOUBLE_EQ(CostUsd(Price{2.5, 10.0}, Usage{0, 0}), 0.0);
}

TEST_F(PricingTest, PriceFileOverridesAndExtendsTheBuiltInTable) {
  WritePriceFile(R"({"gpt-4o": {"input": 1.0, "output": 2.0}, "qwen2.5-coder": {"input": 0, "output": 0.5}})");
  std::optional<Price> overridden = LookupPrice("gpt-4o-2024-08-06");
  ASSERT_TRUE(overridden.has_value());
  EXPECT_DOUBLE_EQ(overridden->input_per_mtok, 1.0);
  EXPECT_DOUBLE_EQ(overridden->output_per_mtok, 2.0);

  std::optional<Price> added = LookupPrice("qwen2.5-coder:32b");
  ASSERT_TRUE(added.has_value());
  EXPECT_DOUBLE_EQ(added->output_per_mtok, 0.5);

  // Entries the file does not mention keep their built-in price.
  std::optional<Price> kept = LookupPrice("gpt-4o-mini");
  ASSERT_TRUE(kept.has_value());
  EXPECT_DOUBLE_EQ(kept->input_per_mtok, 0.15);
}

TEST_F(PricingTest, BadEntryIsReportedWithFileAndModel) {
  std::string path = WritePriceFile(R"({"gpt-4o": {"input": 1.0, "output": "cheap"}})");
  core::Expected<PriceTable> table = LoadPriceTable();
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().code, core::ErrorCode::kValidation);
  EXPECT_NE(table.error().message.find(path), std::string::npos) << table.error().message;
  EXPECT_NE(table.error().message.find("\"gpt-4o\""), std::string::npos) << table.error().message;
  EXPECT_NE(table.error().message.find("\"output\""), std::string::npos) << table.error().message;
}

TEST_F(PricingTest, NegativePriceIsRejected) {
  WritePriceFile(R"({"m": {"input": -1, "output": 1}})");
  core::Expected<PriceTable> table = LoadPriceTable();
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.error().message.find("\"input\""), std::string::npos) << table.error().message;
}

TEST_F(PricingTest, InvalidJsonIsAParseErrorNamingTheFile) {
  std::string path = WritePriceFile(R"({"gpt-4o": )");
  core::Expected<PriceTable> table = LoadPriceTable();
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().code, core::ErrorCode::kParse);
  EXPECT_NE(table.error().message.find(path), std::string::npos) << table.error().message;
}

TEST_F(PricingTest, MissingFileIsReportedAndLookupFallsBackToBuiltIn) {
  std::string path = (dir_ / "absent.json").string();
  setenv("KF_PRICES", path.c_str(), 1);
  core::Expected<PriceTable> table = LoadPriceTable();
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.error().message.find("KF_PRICES"), std::string::npos) << table.error().message;
  EXPECT_NE(table.error().message.find(path), std::string::npos) << table.error().message;

  std::optional<Price> fallback = LookupPrice("gpt-4.1-mini");
  ASSERT_TRUE(fallback.has_value());
  EXPECT_DOUBLE_EQ(fallback->input_per_mtok, 0.4);
}

TEST(FindPriceTest, PicksTheLongestMatchingKeyRegardlessOfOrder) {
  PriceTable table = {{"a", {1, 1}}, {"abc", {3, 3}}, {"ab", {2, 2}}};
  EXPECT_DOUBLE_EQ(FindPrice(table, "abcd")->input_per_mtok, 3);
  EXPECT_DOUBLE_EQ(FindPrice(table, "abx")->input_per_mtok, 2);
  EXPECT_FALSE(FindPrice(table, "b").has_value());
}

}  // namespace
}  // namespace kf::llm
