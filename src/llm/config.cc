#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "llm/llm_client.h"

namespace kf::llm {
namespace {

constexpr std::string_view kOpenAiHostedUrl = "https://api.openai.com/v1";
constexpr std::string_view kAnthropicHostedUrl = "https://api.anthropic.com";

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string WithoutTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

struct ProviderEnv {
  const char* base_url_var;
  const char* api_key_var;
  std::string_view hosted_url;
};

}  // namespace

core::Expected<LlmConfig> ConfigFromEnv(const std::string& model) {
  LlmConfig config;
  config.model = model;
  // Only known provider names split on ':', because model names contain colons too
  // (Ollama's "llama3:8b").
  if (model.starts_with("openai:")) {
    config.provider = Provider::kOpenAi;
    config.model = model.substr(std::string_view("openai:").size());
  } else if (model.starts_with("anthropic:")) {
    config.provider = Provider::kAnthropic;
    config.model = model.substr(std::string_view("anthropic:").size());
  } else if (model.starts_with("claude")) {
    config.provider = Provider::kAnthropic;
  }
  if (config.model.empty()) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("LLM model name is empty in \"{}\"; expected e.g. \"gpt-4o\" or "
                                       "\"anthropic:claude-sonnet-4-5\"",
                                       model));
  }

  const ProviderEnv env = config.provider == Provider::kOpenAi
                              ? ProviderEnv{"OPENAI_BASE_URL", "OPENAI_API_KEY", kOpenAiHostedUrl}
                              : ProviderEnv{"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", kAnthropicHostedUrl};
  std::string base_url = WithoutTrailingSlashes(Env(env.base_url_var));
  if (base_url.empty()) base_url = env.hosted_url;
  if (!base_url.starts_with("http://") && !base_url.starts_with("https://")) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("{}=\"{}\" is not an http:// or https:// URL", env.base_url_var, base_url));
  }
  config.base_url = base_url;
  config.api_key = Env(env.api_key_var);
  // A local server (vLLM, Ollama, llama.cpp) needs no key; the hosted API always does.
  if (config.api_key.empty() && base_url == env.hosted_url) {
    return core::MakeError(core::ErrorCode::kAuth,
                           fmt::format("{} is not set: set it to use {} for model \"{}\", or set {} to a "
                                       "server that needs no key",
                                       env.api_key_var, base_url, config.model, env.base_url_var));
  }
  return config;
}

}  // namespace kf::llm
