#include "llm/llm_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <memory>
#include <mutex>
#include <random>
#include <semaphore>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "core/json.h"
#include "core/log.h"

namespace kf::llm {
namespace {

using core::ErrorCode;
using core::Json;
using Milliseconds = std::chrono::milliseconds;

// A server asking for a longer pause than this is more likely wrong than serious.
constexpr Milliseconds kMaxRetryAfter{10 * 60 * 1000};
// A chat reply is kilobytes; a server streaming more than this is misbehaving.
constexpr std::size_t kMaxReplyBytes = 64u << 20;
constexpr std::size_t kSnippetBytes = 200;

// ---------------------------------------------------------------------------------------------
// Text helpers

// The first max_bytes of text on one line (control characters become spaces), cut at a UTF-8
// character boundary, with "..." when something was cut.
std::string Snippet(std::string_view text, std::size_t max_bytes = kSnippetBytes) {
  std::size_t cut = std::min(max_bytes, text.size());
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  std::string out(text.substr(0, cut));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (cut < text.size()) out += "...";
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

std::string StringOr(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// A token count: 0 when missing, mistyped or negative (a server's negative count must not make
/// a negative cost that would lift the spending cap).
std::int64_t IntOr(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? std::max<std::int64_t>(0, it->get<std::int64_t>()) : 0;
}

// Serializes without throwing on invalid UTF-8 in prompts (it becomes U+FFFD).
std::string Dump(const Json& doc) { return doc.dump(-1, ' ', false, Json::error_handler_t::replace); }

// The human part of an error reply: OpenAI and Anthropic use {"error": {"message": ...}},
// vLLM {"message": ...}, FastAPI-based servers {"detail": ...}; anything else is shown raw.
std::string ServerErrorDetail(const std::string& body) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    auto error = doc.find("error");
    if (error != doc.end() && error->is_object() && !StringOr(*error, "message").empty())
      return Snippet(StringOr(*error, "message"));
    if (error != doc.end() && error->is_string()) return Snippet(error->get<std::string>());
    for (const char* key : {"message", "detail"}) {
      if (!StringOr(doc, key).empty()) return Snippet(StringOr(doc, key));
    }
  }
  return body.empty() ? std::string("(empty body)") : Snippet(body);
}

// Retry-After is either delta-seconds or an HTTP-date (RFC 9110 10.2.3).
std::optional<Milliseconds> ParseRetryAfter(std::string_view value) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return kMaxRetryAfter;
    return std::min<Milliseconds>(std::chrono::seconds(std::stoll(std::string(value))), kMaxRetryAfter);
  }
  std::time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when == -1) return std::nullopt;
  std::time_t wait_s = std::max<std::time_t>(0, when - std::time(nullptr));
  return std::min<Milliseconds>(std::chrono::seconds(wait_s), kMaxRetryAfter);
}

// ---------------------------------------------------------------------------------------------
// HTTP over libcurl

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;
  std::string body;
};

struct HttpReply {
  CURLcode curl_code = CURLE_OK;
  std::string curl_error;  // libcurl's description when curl_code != CURLE_OK
  long status = 0;
  std::string body;
  std::optional<Milliseconds> retry_after;
  double wall_ms = 0;
};

std::size_t AppendBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t bytes = size * count;
  if (body->size() + bytes > kMaxReplyBytes) return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  body->append(data, bytes);
  return bytes;
}

std::size_t ReadHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  std::string_view line(data, size * count);
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (line.starts_with("HTTP/")) {
    reply->retry_after.reset();  // a new response begins (e.g. after "100 Continue")
  } else if (StartsWithIgnoreCase(line, kRetryAfter)) {
    reply->retry_after = ParseRetryAfter(line.substr(kRetryAfter.size()));
  }
  return size * count;
}

int AbortIfCancelled(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

bool Cancelled(const LlmConfig& config) { return config.cancel != nullptr && config.cancel->load(); }

HttpReply Post(const HttpRequest& request, const LlmConfig& config) {
  InitCurlOnce();
  HttpReply reply;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    reply.curl_code = CURLE_FAILED_INIT;
    reply.curl_error = "curl_easy_init failed";
    return reply;
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, &curl_slist_free_all);
  for (const std::string& header : request.headers) {
    headers.reset(curl_slist_append(headers.release(), header.c_str()));
  }
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config.request_timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // signals are unsafe with threads
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &ReadHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  if (config.cancel != nullptr) {
    // Ctrl-C must not wait for a slow reply: the progress callback aborts the transfer.
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &AbortIfCancelled);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, config.cancel);
  }

  const auto start = std::chrono::steady_clock::now();
  reply.curl_code = curl_easy_perform(h);
  reply.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  if (reply.curl_code != CURLE_OK) {
    reply.curl_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(reply.curl_code);
  }
  return reply;
}

// ---------------------------------------------------------------------------------------------
// The two wire formats

std::string WithoutTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

const char* ProviderName(Provider provider) {
  return provider == Provider::kOpenAi ? "OpenAI-compatible" : "Anthropic";
}

const char* ApiKeyVariable(Provider provider) {
  return provider == Provider::kOpenAi ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY";
}

std::string EndpointUrl(const LlmConfig& config) {
  std::string base = WithoutTrailingSlashes(config.base_url);
  if (config.provider == Provider::kOpenAi) return base + "/chat/completions";
  // The documented Anthropic base has no version; tolerate one that does.
  return base.ends_with("/v1") ? base + "/messages" : base + "/v1/messages";
}

Json MessagesJson(const std::vector<Message>& messages) {
  Json out = Json::array();
  for (const Message& m : messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out;
}

HttpRequest BuildRequest(const LlmConfig& config, const CompletionRequest& request) {
  HttpRequest http;
  http.url = EndpointUrl(config);
  // An empty "Expect:" stops libcurl from waiting for "100 Continue" on large prompts.
  http.headers = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
  Json body;
  body["model"] = config.model;
  if (config.provider == Provider::kOpenAi) {
    if (!config.api_key.empty()) http.headers.push_back("Authorization: Bearer " + config.api_key);
    Json messages = Json::array();
    if (!request.system.empty()) messages.push_back({{"role", "system"}, {"content", request.system}});
    for (Json& m : MessagesJson(request.messages)) messages.push_back(std::move(m));
    body["messages"] = std::move(messages);
  } else {
    if (!config.api_key.empty()) http.headers.push_back("x-api-key: " + config.api_key);
    http.headers.push_back("anthropic-version: 2023-06-01");
    if (!request.system.empty()) body["system"] = request.system;
    body["messages"] = MessagesJson(request.messages);
  }
  body["temperature"] = request.temperature;
  // OpenAI's reasoning models take max_completion_tokens and reject max_tokens.
  const std::string& m = config.model;
  bool reasoning = config.provider == Provider::kOpenAi &&
                   (m.starts_with("o1") || m.starts_with("o3") || m.starts_with("o4") || m.starts_with("gpt-5"));
  body[reasoning ? "max_completion_tokens" : "max_tokens"] = request.max_tokens;
  http.body = Dump(body);
  return http;
}

// Reads the reply of a successful call; the error names the first missing piece.
core::Expected<Completion> ParseOpenAiReply(const Json& doc) {
  auto fail = [](const char* what) { return core::MakeError(ErrorCode::kParse, what); };
  if (!doc.is_object()) return fail("the reply is not a JSON object");
  auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object())
    return fail("choices[0] is missing");
  const Json& choice = (*choices)[0];
  auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) return fail("choices[0].message is missing");
  auto content = message->find("content");
  // null content is a legitimate empty answer (e.g. a refusal); anything else is not this API.
  if (content == message->end() || !(content->is_string() || content->is_null()))
    return fail("choices[0].message.content is missing or not a string");
  Completion completion;
  completion.text = content->is_string() ? content->get<std::string>() : std::string();
  completion.finish_reason = StringOr(choice, "finish_reason");
  completion.model = StringOr(doc, "model");
  if (auto usage = doc.find("usage"); usage != doc.end() && usage->is_object()) {
    completion.usage = {IntOr(*usage, "prompt_tokens"), IntOr(*usage, "completion_tokens")};
  }
  return completion;
}

core::Expected<Completion> ParseAnthropicReply(const Json& doc) {
  auto fail = [](const char* what) { return core::MakeError(ErrorCode::kParse, what); };
  if (!doc.is_object()) return fail("the reply is not a JSON object");
  auto content = doc.find("content");
  if (content == doc.end() || !content->is_array()) return fail("content[] is missing");
  Completion completion;
  for (const Json& block : *content) {
    if (block.is_object() && StringOr(block, "type") == "text") completion.text += StringOr(block, "text");
  }
  completion.finish_reason = StringOr(doc, "stop_reason");
  completion.model = StringOr(doc, "model");
  if (auto usage = doc.find("usage"); usage != doc.end() && usage->is_object()) {
    completion.usage = {IntOr(*usage, "input_tokens"), IntOr(*usage, "output_tokens")};
  }
  return completion;
}

core::Expected<Completion> ParseReply(Provider provider, const std::string& body) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return core::MakeError(ErrorCode::kParse, "the reply is not valid JSON");
  return provider == Provider::kOpenAi ? ParseOpenAiReply(doc) : ParseAnthropicReply(doc);
}

// ---------------------------------------------------------------------------------------------
// The client

class SemaphoreGuard {
 public:
  explicit SemaphoreGuard(std::counting_semaphore<>& semaphore) : semaphore_(semaphore) { semaphore_.acquire(); }
  ~SemaphoreGuard() { semaphore_.release(); }
  SemaphoreGuard(const SemaphoreGuard&) = delete;
  SemaphoreGuard& operator=(const SemaphoreGuard&) = delete;

 private:
  std::counting_semaphore<>& semaphore_;
};

// Why one attempt failed, and whether another may succeed.
struct AttemptFailure {
  core::Error error;
  bool retryable = false;
  std::optional<Milliseconds> retry_after;
};

class HttpLlmClient final : public LlmClient {
 public:
  HttpLlmClient(LlmConfig config, SleepFn sleep)
      : config_(std::move(config)),
        sleep_(std::move(sleep)),
        price_(config_.price ? config_.price : LookupPrice(config_.model)),
        in_flight_(config_.max_concurrency),
        url_(EndpointUrl(config_)) {}

  core::Expected<Completion> Complete(const CompletionRequest& request) override {
    if (std::any_of(config_.api_key.begin(), config_.api_key.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return core::MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("{}: the API key contains a line break or control character; check {}",
                                         Where(), ApiKeyVariable(config_.provider)));
    }
    const HttpRequest http = BuildRequest(config_, request);
    for (int attempt = 1;; ++attempt) {
      std::variant<Completion, AttemptFailure> outcome = Attempt(http, attempt);
      if (auto* completion = std::get_if<Completion>(&outcome)) {
        completion->attempts = attempt;
        return std::move(*completion);
      }
      AttemptFailure& failure = std::get<AttemptFailure>(outcome);
      if (!failure.retryable || attempt > config_.max_retries) {
        if (failure.retryable) failure.error.message += fmt::format(" (gave up after {} attempts)", attempt);
        failure.error.message = core::Redact(failure.error.message);
        return failure.error;
      }
      Milliseconds delay = BackoffDelay(attempt);
      if (failure.retry_after) delay = std::max(delay, *failure.retry_after);
      core::LogWarn("{}; retrying in {} ms (attempt {} of {})", failure.error.message, delay.count(), attempt + 1,
                    config_.max_retries + 1);
      // Sleep in slices so a cancel is honoured during a long Retry-After.
      Milliseconds left = delay;
      do {
        Milliseconds slice = config_.cancel != nullptr ? std::min(left, Milliseconds(100)) : left;
        sleep_(slice);
        left -= slice;
      } while (left.count() > 0 && !Cancelled(config_));
      if (Cancelled(config_)) return core::MakeError(ErrorCode::kCancelled, Where() + ": cancelled");
    }
  }

  const LlmConfig& Config() const override { return config_; }

 private:
  std::string Where() const { return fmt::format("{} {}", ProviderName(config_.provider), url_); }

  // Exponential backoff with full jitter: uniform in [0, min(max, initial * 2^(retry-1))].
  Milliseconds BackoffDelay(int retry) const {
    const double ceiling_ms = std::min(static_cast<double>(config_.backoff_max.count()),
                                       static_cast<double>(config_.backoff_initial.count()) * std::exp2(retry - 1));
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return Milliseconds(static_cast<std::int64_t>(std::uniform_real_distribution<double>(0, ceiling_ms)(rng)));
  }

  std::variant<Completion, AttemptFailure> Attempt(const HttpRequest& http, int attempt) {
    HttpReply reply;
    {
      SemaphoreGuard slot(in_flight_);
      core::LogDebug("{}: POST model {} ({} bytes, attempt {})", Where(), config_.model, http.body.size(), attempt);
      reply = Post(http, config_);
    }
    if (reply.curl_code == CURLE_ABORTED_BY_CALLBACK) {
      return AttemptFailure{core::MakeError(ErrorCode::kCancelled, Where() + ": cancelled"), false, std::nullopt};
    }
    if (reply.curl_code != CURLE_OK) return TransportFailure(reply);
    if (reply.status < 200 || reply.status > 299) return HttpFailure(reply);

    core::Expected<Completion> parsed = ParseReply(config_.provider, reply.body);
    if (!parsed.ok()) {
      // Servers under load do return truncated or garbled bodies; another attempt usually works.
      return AttemptFailure{
          core::MakeError(ErrorCode::kParse, fmt::format("{}: HTTP {} reply is not the expected JSON ({}): {}", Where(),
                                                         reply.status, parsed.error().message, Snippet(reply.body))),
          /*retryable=*/true, std::nullopt};
    }
    Completion completion = std::move(parsed).value();
    if (completion.model.empty()) completion.model = config_.model;
    completion.latency_ms = reply.wall_ms;
    completion.priced = price_.has_value();
    completion.cost_usd = price_ ? CostUsd(*price_, completion.usage) : 0.0;
    core::LogDebug("{}: HTTP {} in {:.0f} ms, {} input + {} output tokens", Where(), reply.status, reply.wall_ms,
                   completion.usage.input_tokens, completion.usage.output_tokens);
    return completion;
  }

  AttemptFailure TransportFailure(const HttpReply& reply) const {
    std::string message = fmt::format("{}: {}", Where(), reply.curl_error);
    switch (reply.curl_code) {
      case CURLE_OPERATION_TIMEDOUT:
        return {core::MakeError(ErrorCode::kTimeout,
                                fmt::format("{} (request timeout {} ms, connect timeout {} ms)", message,
                                            config_.request_timeout.count(), config_.connect_timeout.count())),
                true, std::nullopt};
      case CURLE_COULDNT_CONNECT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        return {core::MakeError(ErrorCode::kNetwork, message), true, std::nullopt};
      case CURLE_WRITE_ERROR:
        return {core::MakeError(ErrorCode::kServer,
                                fmt::format("{}: the reply exceeds {} MiB", Where(), kMaxReplyBytes >> 20)),
                false, std::nullopt};
      default:  // DNS, TLS, malformed URL: retrying will not fix the configuration
        return {core::MakeError(ErrorCode::kNetwork, message + "; check the base URL " + config_.base_url), false,
                std::nullopt};
    }
  }

  AttemptFailure HttpFailure(const HttpReply& reply) const {
    const long status = reply.status;
    std::string message = fmt::format("{}: HTTP {}: {}", Where(), status, ServerErrorDetail(reply.body));
    if (status == 401 || status == 403) {
      std::string hint = config_.api_key.empty()
                             ? fmt::format("no API key was sent; set {}", ApiKeyVariable(config_.provider))
                             : fmt::format("check {}", ApiKeyVariable(config_.provider));
      return {core::MakeError(ErrorCode::kAuth, message + "; " + hint), false, std::nullopt};
    }
    if (status == 404) {
      return {core::MakeError(ErrorCode::kNotFound, fmt::format("{}; check the base URL ({}) and the model name ({})",
                                                                message, config_.base_url, config_.model)),
              false, std::nullopt};
    }
    if (status == 408) return {core::MakeError(ErrorCode::kTimeout, message), true, reply.retry_after};
    if (status == 429) return {core::MakeError(ErrorCode::kRateLimited, message), true, reply.retry_after};
    if (status >= 500 && status <= 599) return {core::MakeError(ErrorCode::kServer, message), true, reply.retry_after};
    if (status >= 400 && status <= 499) {
      return {core::MakeError(ErrorCode::kInvalidArgument, message + "; the server rejected the request"), false,
              std::nullopt};
    }
    return {core::MakeError(ErrorCode::kServer, message + "; unexpected HTTP status"), false, std::nullopt};
  }

  const LlmConfig config_;
  const SleepFn sleep_;
  const std::optional<Price> price_;
  std::counting_semaphore<> in_flight_;
  const std::string url_;
};

}  // namespace

std::unique_ptr<LlmClient> MakeLlmClient(LlmConfig config, SleepFn sleep) {
  KF_CHECK(!config.model.empty()) << "LlmConfig.model is empty";
  KF_CHECK(!config.base_url.empty()) << "LlmConfig.base_url is empty";
  KF_CHECK(config.max_concurrency >= 1) << "max_concurrency must be at least 1, got " << config.max_concurrency;
  KF_CHECK(config.max_retries >= 0) << "max_retries must be non-negative, got " << config.max_retries;
  KF_CHECK(config.request_timeout.count() > 0 && config.connect_timeout.count() > 0) << "timeouts must be positive";
  core::RegisterSecret(config.api_key);
  if (!sleep) sleep = [](Milliseconds delay) { std::this_thread::sleep_for(delay); };
  return std::make_unique<HttpLlmClient>(std::move(config), std::move(sleep));
}

}  // namespace kf::llm
