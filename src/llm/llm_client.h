// llm/llm_client.h — chat completions from OpenAI-compatible servers and Anthropic.
//
// One client per (provider, model). Complete() is thread-safe; at most max_concurrency calls
// are on the wire at once (the rest wait). Transient failures (HTTP 429, 5xx, timeouts,
// connection errors) are retried with exponential backoff and full jitter, honouring
// Retry-After. API keys are registered with core::RegisterSecret and never appear in logs,
// error messages or returned records.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace kf::llm {

enum class Provider { kOpenAi, kAnthropic };

struct Message {
  std::string role;  // "user" or "assistant"
  std::string content;
};

struct CompletionRequest {
  std::string system;
  std::vector<Message> messages;
  double temperature = 0.7;
  int max_tokens = 8192;
};

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
};

/// USD per million tokens.
struct Price {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
};

struct Completion {
  std::string text;
  std::string model;          // as reported by the server (falls back to the configured one)
  std::string finish_reason;  // "stop", "length", "end_turn", ...
  Usage usage;
  double cost_usd = 0;        // from the price table; 0 when the model has no price
  bool priced = false;
  double latency_ms = 0;      // of the successful attempt
  int attempts = 1;
};

struct LlmConfig {
  Provider provider = Provider::kOpenAi;
  std::string model;
  /// OpenAI: ".../v1" (chat/completions is appended). Anthropic: "https://api.anthropic.com".
  std::string base_url;
  std::string api_key;  // may be empty for local servers
  std::chrono::milliseconds request_timeout{300'000};
  std::chrono::milliseconds connect_timeout{10'000};
  int max_retries = 5;  // attempts = 1 + max_retries
  std::chrono::milliseconds backoff_initial{1'000};
  std::chrono::milliseconds backoff_max{60'000};
  int max_concurrency = 4;
  std::optional<Price> price;  // overrides the table
  /// When set and it becomes true, in-flight requests abort and Complete returns kCancelled.
  const std::atomic<bool>* cancel = nullptr;
};

/// Reads OPENAI_BASE_URL / OPENAI_API_KEY (openai; base defaults to https://api.openai.com/v1)
/// or ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY (anthropic). `model` may be "provider:model"
/// ("anthropic:claude-sonnet-4-5"); plain names starting with "claude" pick Anthropic.
/// Fails with a message saying which variable to set when a hosted API has no key.
core::Expected<LlmConfig> ConfigFromEnv(const std::string& model);

/// Price per model from the built-in table, overridden by a JSON file named by
/// KF_PRICES ({"model": {"input": 3.0, "output": 15.0}}, USD per million tokens).
/// Matches the longest table key that prefixes the model name. A KF_PRICES file that cannot
/// be read or parsed is reported with a warning and the built-in table is used.
std::optional<Price> LookupPrice(const std::string& model);
double CostUsd(const Price& price, const Usage& usage);

/// Model-name prefix -> price.
using PriceTable = std::map<std::string, Price>;
/// The built-in table merged with the KF_PRICES file (its entries win). Errors: kNotFound / kIo
/// when the file cannot be read, kParse / kValidation naming the file and the offending entry.
core::Expected<PriceTable> LoadPriceTable();
/// The entry whose key is the longest prefix of model, if any.
std::optional<Price> FindPrice(const PriceTable& table, const std::string& model);

class LlmClient {
 public:
  virtual ~LlmClient() = default;
  /// Errors: kAuth (401/403, not retried), kRateLimited / kServer / kTimeout / kNetwork after
  /// all retries, kParse for a reply that is not the API's JSON, kCancelled.
  virtual core::Expected<Completion> Complete(const CompletionRequest& request) = 0;
  virtual const LlmConfig& Config() const = 0;
};

/// Sleeps between retries through this hook (tests shorten it); default std::this_thread::sleep_for.
using SleepFn = std::function<void(std::chrono::milliseconds)>;

std::unique_ptr<LlmClient> MakeLlmClient(LlmConfig config, SleepFn sleep = nullptr);

}  // namespace kf::llm
