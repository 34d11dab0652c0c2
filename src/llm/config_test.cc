#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "llm/llm_client.h"

namespace kf::llm {
namespace {

// Starts every test from an environment with no LLM variables set.
class ConfigFromEnvTest : public testing::Test {
 protected:
  void SetUp() override { Clear(); }
  void TearDown() override { Clear(); }
  static void Clear() {
    for (const char* name : {"OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"})
      unsetenv(name);
  }
};

TEST_F(ConfigFromEnvTest, OpenAiDefaultsToTheHostedApi) {
  setenv("OPENAI_API_KEY", "sk-test-123456", 1);
  core::Expected<LlmConfig> config = ConfigFromEnv("gpt-4o");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->provider, Provider::kOpenAi);
  EXPECT_EQ(config->model, "gpt-4o");
  EXPECT_EQ(config->base_url, "https://api.openai.com/v1");
  EXPECT_EQ(config->api_key, "sk-test-123456");
}

TEST_F(ConfigFromEnvTest, HostedOpenAiWithoutKeyNamesTheVariable) {
  core::Expected<LlmConfig> config = ConfigFromEnv("gpt-4o");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, core::ErrorCode::kAuth);
  EXPECT_NE(config.error().message.find("OPENAI_API_KEY"), std::string::npos) << config.error().message;
}

TEST_F(ConfigFromEnvTest, LocalServerNeedsNoKey) {
  setenv("OPENAI_BASE_URL", "http://localhost:11434/v1/", 1);
  core::Expected<LlmConfig> config = ConfigFromEnv("qwen2.5-coder:32b");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->provider, Provider::kOpenAi);
  EXPECT_EQ(config->base_url, "http://localhost:11434/v1");
  // The colon belongs to the Ollama model tag, not to a provider prefix.
  EXPECT_EQ(config->model, "qwen2.5-coder:32b");
  EXPECT_TRUE(config->api_key.empty());
}

TEST_F(ConfigFromEnvTest, ClaudeNamesPickAnthropic) {
  setenv("ANTHROPIC_API_KEY", "sk-ant-test-abcdef", 1);
  core::Expected<LlmConfig> config = ConfigFromEnv("claude-sonnet-4-5");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->provider, Provider::kAnthropic);
  EXPECT_EQ(config->base_url, "https://api.anthropic.com");
  EXPECT_EQ(config->api_key, "sk-ant-test-abcdef");
}

TEST_F(ConfigFromEnvTest, ProviderPrefixIsStripped) {
  setenv("ANTHROPIC_API_KEY", "sk-ant-test-abcdef", 1);
  core::Expected<LlmConfig> anthropic = ConfigFromEnv("anthropic:claude-opus-4-1");
  ASSERT_TRUE(anthropic.ok()) << anthropic.error().ToString();
  EXPECT_EQ(anthropic->provider, Provider::kAnthropic);
  EXPECT_EQ(anthropic->model, "claude-opus-4-1");

  setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1", 1);
  core::Expected<LlmConfig> openai = ConfigFromEnv("openai:claude-distill");
  ASSERT_TRUE(openai.ok()) << openai.error().ToString();
  EXPECT_EQ(openai->provider, Provider::kOpenAi);
  EXPECT_EQ(openai->model, "claude-distill");
}

TEST_F(ConfigFromEnvTest, HostedAnthropicWithoutKeyNamesTheVariable) {
  core::Expected<LlmConfig> config = ConfigFromEnv("anthropic:claude-sonnet-4-5");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, core::ErrorCode::kAuth);
  EXPECT_NE(config.error().message.find("ANTHROPIC_API_KEY"), std::string::npos) << config.error().message;
}

TEST_F(ConfigFromEnvTest, EmptyModelIsRejected) {
  setenv("ANTHROPIC_API_KEY", "sk-ant-test-abcdef", 1);
  core::Expected<LlmConfig> config = ConfigFromEnv("anthropic:");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, core::ErrorCode::kInvalidArgument);
}

TEST_F(ConfigFromEnvTest, BaseUrlWithoutSchemeIsRejected) {
  setenv("OPENAI_BASE_URL", "localhost:8000/v1", 1);
  core::Expected<LlmConfig> config = ConfigFromEnv("llama");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("OPENAI_BASE_URL"), std::string::npos) << config.error().message;
}

}  // namespace
}  // namespace kf::llm
