// Drives the real clients against a real HTTP server on 127.0.0.1 that speaks both the
// OpenAI chat-completions and the Anthropic messages API and replies from a per-test script.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/json.h"
#include "core/log.h"
#include "llm/llm_client.h"

namespace kf::llm {
namespace {

using namespace std::chrono_literals;
using core::ErrorCode;
using core::Json;

constexpr char kApiKey[] = "sk-test-SECRET-4242-do-not-leak";

// One scripted reply.
struct Step {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  // before replying; models a stalled or slow server
};

struct ReceivedRequest {
  std::string path;
  httplib::Headers headers;
  std::string body;
};

class ScriptedServer {
 public:
  ScriptedServer() {
    server_.Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
      Handle(request, response);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~ScriptedServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }

  /// Replies in this order; the last step repeats once the others are used up.
  void Script(std::vector<Step> steps) {
    std::lock_guard lock(mu_);
    steps_.assign(steps.begin(), steps.end());
  }
  std::string OpenAiBase() const { return fmt::format("http://127.0.0.1:{}/v1", port_); }
  std::string AnthropicBase() const { return fmt::format("http://127.0.0.1:{}", port_); }
  std::vector<ReceivedRequest> Requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int MaxInFlight() const { return max_in_flight_; }

 private:
  void Handle(const httplib::Request& request, httplib::Response& response) {
    int in_flight = ++in_flight_;
    Step step;
    {
      std::lock_guard lock(mu_);
      max_in_flight_ = std::max(max_in_flight_.load(), in_flight);
      requests_.push_back({request.path, request.headers, request.body});
      EXPECT_FALSE(steps_.empty()) << "the test scripted no reply";
      if (!steps_.empty()) {
        step = steps_.front();
        if (steps_.size() > 1) steps_.pop_front();
      }
    }
    for (auto waited = 0ms; waited < step.delay && !stopping_; waited += 5ms) std::this_thread::sleep_for(5ms);
    response.status = step.status;
    for (const auto& [name, value] : step.headers) response.set_header(name, value);
    response.set_content(step.body, "application/json");
    --in_flight_;
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::deque<Step> steps_;
  std::vector<ReceivedRequest> requests_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
};

std::string OpenAiReply(const std::string& text, int prompt_tokens, int completion_tokens,
                        const std::string& finish_reason = "stop") {
  Json reply = {{"id", "chatcmpl-1"},
                {"object", "chat.completion"},
                {"model", "gpt-4o-2024-08-06"},
                {"choices",
                 {{{"index", 0},
                   {"message", {{"role", "assistant"}, {"content", text}}},
                   {"finish_reason", finish_reason}}}},
                {"usage",
                 {{"prompt_tokens", prompt_tokens},
                  {"completion_tokens", completion_tokens},
                  {"total_tokens", prompt_tokens + completion_tokens}}}};
  return reply.dump();
}

std::string AnthropicReply(const std::vector<std::string>& text_blocks, int input_tokens, int output_tokens) {
  Json content = Json::array();
  content.push_back({{"type", "thinking"}, {"thinking", "not part of the answer"}});
  for (const std::string& text : text_blocks) content.push_back({{"type", "text"}, {"text", text}});
  Json reply = {{"id", "msg_1"},
                {"type", "message"},
                {"role", "assistant"},
                {"model", "claude-sonnet-4-20250514"},
                {"content", content},
                {"stop_reason", "end_turn"},
                {"usage", {{"input_tokens", input_tokens}, {"output_tokens", output_tokens}}}};
  return reply.dump();
}

// Records the client's backoff sleeps instead of sleeping, so retry tests run fast.
class SleepRecorder {
 public:
  SleepFn Fn() {
    return [this](std::chrono::milliseconds delay) {
      std::lock_guard lock(mu_);
      sleeps_.push_back(delay);
    };
  }
  std::vector<std::chrono::milliseconds> Sleeps() const {
    std::lock_guard lock(mu_);
    return sleeps_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

CompletionRequest SampleRequest() {
  CompletionRequest request;
  request.system = "You write fast CUDA kernels.";
  request.messages = {{"user", "Write a row softmax."}};
  request.temperature = 0.3;
  request.max_tokens = 2048;
  return request;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class LlmClientTest : public testing::Test {
 protected:
  void SetUp() override { unsetenv("KF_PRICES"); }

  LlmConfig OpenAiConfig() const {
    LlmConfig config;
    config.provider = Provider::kOpenAi;
    config.model = "gpt-4o";
    config.base_url = server_.OpenAiBase();
    config.api_key = kApiKey;
    config.request_timeout = 5s;
    config.connect_timeout = 2s;
    config.max_retries = 2;
    config.backoff_initial = 10ms;
    config.backoff_max = 50ms;
    return config;
  }
  LlmConfig AnthropicConfig() const {
    LlmConfig config = OpenAiConfig();
    config.provider = Provider::kAnthropic;
    config.model = "claude-sonnet-4-20250514";
    config.base_url = server_.AnthropicBase();
    return config;
  }
  std::unique_ptr<LlmClient> Client(LlmConfig config) { return MakeLlmClient(std::move(config), sleeps_.Fn()); }

  ScriptedServer server_;
  SleepRecorder sleeps_;
};

TEST_F(LlmClientTest, OpenAiSuccessReportsTextTokensAndCost) {
  server_.Script({{200, OpenAiReply("```cuda\n__global__ void k() {}\n```", 1200, 300)}});
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  EXPECT_EQ(completion->text, "```cuda\n__global__ void k() {}\n```");
  EXPECT_EQ(completion->model, "gpt-4o-2024-08-06");
  EXPECT_EQ(completion->finish_reason, "stop");
  EXPECT_EQ(completion->usage.input_tokens, 1200);
  EXPECT_EQ(completion->usage.output_tokens, 300);
  EXPECT_TRUE(completion->priced);
  EXPECT_DOUBLE_EQ(completion->cost_usd, 1200 * 2.5 / 1e6 + 300 * 10.0 / 1e6);
  EXPECT_EQ(completion->attempts, 1);
  EXPECT_GT(completion->latency_ms, 0);
  EXPECT_TRUE(sleeps_.Sleeps().empty());
}

TEST_F(LlmClientTest, AnthropicSuccessConcatenatesTextBlocksAndPricesUsage) {
  server_.Script({{200, AnthropicReply({"first half, ", "second half"}, 1000, 200)}});
  core::Expected<Completion> completion = Client(AnthropicConfig())->Complete(SampleRequest());
  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  EXPECT_EQ(completion->text, "first half, second half");
  EXPECT_EQ(completion->finish_reason, "end_turn");
  EXPECT_EQ(completion->usage.input_tokens, 1000);
  EXPECT_EQ(completion->usage.output_tokens, 200);
  EXPECT_TRUE(completion->priced);
  EXPECT_DOUBLE_EQ(completion->cost_usd, 1000 * 3.0 / 1e6 + 200 * 15.0 / 1e6);
}

TEST_F(LlmClientTest, ConfiguredPriceOverridesTheTableAndUnknownModelsAreUnpriced) {
  server_.Script({{200, OpenAiReply("ok", 1'000'000, 1'000'000)}});
  LlmConfig priced = OpenAiConfig();
  priced.price = Price{1.0, 2.0};
  core::Expected<Completion> with_price = Client(priced)->Complete(SampleRequest());
  ASSERT_TRUE(with_price.ok()) << with_price.error().ToString();
  EXPECT_DOUBLE_EQ(with_price->cost_usd, 3.0);

  LlmConfig local = OpenAiConfig();
  local.model = "qwen2.5-coder:32b";
  core::Expected<Completion> unpriced = Client(local)->Complete(SampleRequest());
  ASSERT_TRUE(unpriced.ok()) << unpriced.error().ToString();
  EXPECT_FALSE(unpriced->priced);
  EXPECT_EQ(unpriced->cost_usd, 0);
}

TEST_F(LlmClientTest, RateLimitHonoursRetryAfterSeconds) {
  server_.Script({{429, R"({"error":{"message":"Rate limit reached"}})", {{"Retry-After", "1"}}},
                  {200, OpenAiReply("done", 10, 5)}});
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  EXPECT_EQ(completion->attempts, 2);
  std::vector<std::chrono::milliseconds> sleeps = sleeps_.Sleeps();
  ASSERT_EQ(sleeps.size(), 1u);
  // backoff_max is 50 ms, so only Retry-After can make the pause this long.
  EXPECT_GE(sleeps[0], 1000ms);
  EXPECT_EQ(server_.Requests().size(), 2u);
}

TEST_F(LlmClientTest, RetryAfterAcceptsAnHttpDate) {
  std::time_t when = std::time(nullptr) + 30;
  std::tm tm{};
  gmtime_r(&when, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  server_.Script({{503, "overloaded", {{"Retry-After", date}}}, {200, OpenAiReply("done", 1, 1)}});
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  ASSERT_EQ(sleeps_.Sleeps().size(), 1u);
  EXPECT_GE(sleeps_.Sleeps()[0], 28s);
  EXPECT_LE(sleeps_.Sleeps()[0], 30s);
}

TEST_F(LlmClientTest, AbsurdRetryAfterIsCappedAtTenMinutes) {
  server_.Script({{429, "{}", {{"Retry-After", "86400"}}}, {200, OpenAiReply("done", 1, 1)}});
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  ASSERT_EQ(sleeps_.Sleeps().size(), 1u);
  EXPECT_EQ(sleeps_.Sleeps()[0], 10min);
}

TEST_F(LlmClientTest, ServerErrorsAreRetriedWithBoundedJitteredBackoff) {
  server_.Script({{500, R"({"error":{"message":"internal"}})"},
                  {502, "<html>bad gateway</html>"},
                  {200, OpenAiReply("third time lucky", 3, 4)}});
  LlmConfig config = OpenAiConfig();
  config.backoff_initial = 100ms;
  config.backoff_max = 150ms;
  core::Expected<Completion> completion = Client(config)->Complete(SampleRequest());
  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  EXPECT_EQ(completion->text, "third time lucky");
  EXPECT_EQ(completion->attempts, 3);
  std::vector<std::chrono::milliseconds> sleeps = sleeps_.Sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_LE(sleeps[0], 100ms);  // initial * 2^0
  EXPECT_LE(sleeps[1], 150ms);  // initial * 2^1, capped at backoff_max
}

TEST_F(LlmClientTest, PersistentServerErrorGivesUpWithStatusAndServerMessage) {
  server_.Script({{503, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"}});
  LlmConfig config = AnthropicConfig();
  core::Expected<Completion> completion = Client(config)->Complete(SampleRequest());
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.error().code, ErrorCode::kServer);
  const std::string& message = completion.error().message;
  EXPECT_TRUE(Contains(message, "Anthropic")) << message;
  EXPECT_TRUE(Contains(message, server_.AnthropicBase() + "/v1/messages")) << message;
  EXPECT_TRUE(Contains(message, "HTTP 503")) << message;
  EXPECT_TRUE(Contains(message, "Overloaded")) << message;
  EXPECT_TRUE(Contains(message, "3 attempts")) << message;
  EXPECT_EQ(server_.Requests().size(), 3u);
}

TEST_F(LlmClientTest, StalledReplyTimesOutOnEveryAttempt) {
  server_.Script({{200, OpenAiReply("too late", 1, 1), {}, 5s}});
  LlmConfig config = OpenAiConfig();
  config.request_timeout = 1000ms;  // generous: CI machines are loaded
  config.max_retries = 1;
  auto start = std::chrono::steady_clock::now();
  core::Expected<Completion> completion = Client(config)->Complete(SampleRequest());
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.error().code, ErrorCode::kTimeout);
  EXPECT_TRUE(Contains(completion.error().message, "1000 ms")) << completion.error().message;
  EXPECT_EQ(server_.Requests().size(), 2u);
  EXPECT_EQ(sleeps_.Sleeps().size(), 1u);
  EXPECT_LT(elapsed, 4500ms);
}

TEST_F(LlmClientTest, CancelFlagAbortsAStalledRequestPromptly) {
  server_.Script({{200, OpenAiReply("too late", 1, 1), {}, 5s}});
  std::atomic<bool> cancel{false};
  LlmConfig config = OpenAiConfig();
  config.request_timeout = 30000ms;
  config.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  core::Expected<Completion> completion = Client(config)->Complete(SampleRequest());
  auto elapsed = std::chrono::steady_clock::now() - start;
  canceller.join();
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.error().code, ErrorCode::kCancelled) << completion.error().message;
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(server_.Requests().size(), 1u) << "a cancelled call is not retried";
}

TEST_F(LlmClientTest, MalformedJsonIsRetriedThenReportedAsParseError) {
  server_.Script({{200, R"({"choices": [{"message": {"content": "trunc)"}});
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.error().code, ErrorCode::kParse);
  EXPECT_TRUE(Contains(completion.error().message, R"({"choices": [{"message": {"content": "trunc)"))
      << completion.error().message;
  EXPECT_EQ(server_.Requests().size(), 3u);
}

TEST_F(LlmClientTest, ReplyMissingFieldsIsAParseErrorNamingTheField) {
  server_.Script({{200, R"({"choices": []})"}});
  LlmConfig config = OpenAiConfig();
  config.max_retries = 0;
  core::Expected<Completion> openai = Client(config)->Complete(SampleRequest());
  ASSERT_FALSE(openai.ok());
  EXPECT_EQ(openai.error().code, ErrorCode::kParse);
  EXPECT_TRUE(Contains(openai.error().message, "choices[0]")) << openai.error().message;

  server_.Script({{200, R"({"type": "message", "stop_reason": "end_turn"})"}});
  LlmConfig anthropic_config = AnthropicConfig();
  anthropic_config.max_retries = 0;
  core::Expected<Completion> anthropic = Client(anthropic_config)->Complete(SampleRequest());
  ASSERT_FALSE(anthropic.ok());
  EXPECT_EQ(anthropic.error().code, ErrorCode::kParse);
  EXPECT_TRUE(Contains(anthropic.error().message, "content[]")) << anthropic.error().message;
}

TEST_F(LlmClientTest, LongGarbageBodyIsQuotedOnlyUpTo200Bytes) {
  std::string garbage = "<html>" + std::string(5000, 'x') + "</html>";
  server_.Script({{200, garbage}});
  LlmConfig config = OpenAiConfig();
  config.max_retries = 0;
  core::Expected<Completion> completion = Client(config)->Complete(SampleRequest());
  ASSERT_FALSE(completion.ok());
  EXPECT_TRUE(Contains(completion.error().message, "<html>xxx")) << completion.error().message;
  EXPECT_FALSE(Contains(completion.error().message, std::string(300, 'x')));
}

TEST_F(LlmClientTest, UnauthorizedIsNotRetriedAndNeverShowsTheKey) {
  server_.Script({{401, fmt::format(R"({{"error":{{"message":"Incorrect API key provided: {}"}}}})", kApiKey)}});
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.error().code, ErrorCode::kAuth);
  EXPECT_EQ(server_.Requests().size(), 1u);
  EXPECT_TRUE(sleeps_.Sleeps().empty());
  const std::string& message = completion.error().message;
  EXPECT_TRUE(Contains(message, "OPENAI_API_KEY")) << message;
  EXPECT_TRUE(Contains(message, "HTTP 401")) << message;
  EXPECT_TRUE(Contains(message, "Incorrect API key provided")) << message;
  EXPECT_FALSE(Contains(message, kApiKey)) << message;
}

TEST_F(LlmClientTest, ForbiddenOnAnthropicNamesTheAnthropicVariable) {
  server_.Script({{403, R"({"type":"error","error":{"type":"permission_error","message":"nope"}})"}});
  core::Expected<Completion> completion = Client(AnthropicConfig())->Complete(SampleRequest());
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.error().code, ErrorCode::kAuth);
  EXPECT_TRUE(Contains(completion.error().message, "ANTHROPIC_API_KEY")) << completion.error().message;
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_F(LlmClientTest, ClientErrorsAreNotRetried) {
  server_.Script({{404, R"({"error":{"message":"The model `gpt-9` does not exist"}})"}});
  LlmConfig config = OpenAiConfig();
  config.model = "gpt-9";
  core::Expected<Completion> missing = Client(config)->Complete(SampleRequest());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Contains(missing.error().message, "base URL")) << missing.error().message;
  EXPECT_TRUE(Contains(missing.error().message, "gpt-9")) << missing.error().message;

  server_.Script({{400, R"({"error":{"message":"max_tokens is too large"}})"}});
  core::Expected<Completion> bad = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad.error().message, "max_tokens is too large")) << bad.error().message;

  EXPECT_EQ(server_.Requests().size(), 2u);
  EXPECT_TRUE(sleeps_.Sleeps().empty());
}

TEST_F(LlmClientTest, ReplyWithoutCodeIsReturnedVerbatim) {
  const std::string prose = "  I cannot improve this kernel further.\n\n\tIt is already — ünïcødé ✓ — optimal.\n";
  server_.Script({{200, OpenAiReply(prose, 5, 20, "length")}});
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  EXPECT_EQ(completion->text, prose);
  EXPECT_EQ(completion->finish_reason, "length");
}

TEST_F(LlmClientTest, NeverExceedsMaxConcurrency) {
  server_.Script({{200, OpenAiReply("ok", 1, 1), {}, 150ms}});
  LlmConfig config = OpenAiConfig();
  config.max_concurrency = 2;
  std::unique_ptr<LlmClient> client = Client(config);
  std::atomic<int> successes{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&] {
      if (client->Complete(SampleRequest()).ok()) ++successes;
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(successes, 6);
  EXPECT_EQ(server_.Requests().size(), 6u);
  // Exactly 2: the limit holds, and the calls did overlap (so the test can see a breach).
  EXPECT_EQ(server_.MaxInFlight(), 2);
}

TEST_F(LlmClientTest, ConnectionRefusedIsRetriedThenReportedAsNetworkError) {
  // A bound socket that never listens refuses connections, and nobody else can take its port.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  LlmConfig config = OpenAiConfig();
  config.base_url = fmt::format("http://127.0.0.1:{}/v1", ntohs(address.sin_port));

  core::Expected<Completion> completion = Client(config)->Complete(SampleRequest());
  ::close(fd);
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.error().code, ErrorCode::kNetwork);
  EXPECT_TRUE(Contains(completion.error().message, config.base_url)) << completion.error().message;
  EXPECT_TRUE(Contains(completion.error().message, "3 attempts")) << completion.error().message;
  EXPECT_EQ(sleeps_.Sleeps().size(), 2u);
}

TEST_F(LlmClientTest, OpenAiRequestHasSystemMessageFirstAndBearerKey) {
  server_.Script({{200, OpenAiReply("ok", 1, 1)}});
  CompletionRequest request = SampleRequest();
  request.messages.push_back({"assistant", "draft"});
  request.messages.push_back({"user", "faster"});
  ASSERT_TRUE(Client(OpenAiConfig())->Complete(request).ok());

  std::vector<ReceivedRequest> received = server_.Requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].path, "/v1/chat/completions");
  auto auth = received[0].headers.find("Authorization");
  ASSERT_NE(auth, received[0].headers.end());
  EXPECT_EQ(auth->second, std::string("Bearer ") + kApiKey);
  Json body = Json::parse(received[0].body);
  EXPECT_EQ(body["model"], "gpt-4o");
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.3);
  EXPECT_EQ(body["max_tokens"], 2048);
  EXPECT_FALSE(body.contains("system"));
  Json expected_messages = Json::array({{{"role", "system"}, {"content", "You write fast CUDA kernels."}},
                                        {{"role", "user"}, {"content", "Write a row softmax."}},
                                        {{"role", "assistant"}, {"content", "draft"}},
                                        {{"role", "user"}, {"content", "faster"}}});
  EXPECT_EQ(body["messages"], expected_messages);
}

TEST_F(LlmClientTest, OpenAiRequestWithoutKeySendsNoAuthorization) {
  server_.Script({{200, OpenAiReply("ok", 1, 1)}});
  LlmConfig config = OpenAiConfig();
  config.api_key.clear();
  CompletionRequest request = SampleRequest();
  request.system.clear();
  ASSERT_TRUE(Client(config)->Complete(request).ok());

  std::vector<ReceivedRequest> received = server_.Requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_FALSE(received[0].headers.count("Authorization"));
  Json body = Json::parse(received[0].body);
  ASSERT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["messages"][0]["role"], "user");
}

TEST_F(LlmClientTest, AnthropicRequestHasTopLevelSystemAndVersionHeaders) {
  server_.Script({{200, AnthropicReply({"ok"}, 1, 1)}});
  ASSERT_TRUE(Client(AnthropicConfig())->Complete(SampleRequest()).ok());

  std::vector<ReceivedRequest> received = server_.Requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].path, "/v1/messages");
  auto key = received[0].headers.find("x-api-key");
  ASSERT_NE(key, received[0].headers.end());
  EXPECT_EQ(key->second, kApiKey);
  auto version = received[0].headers.find("anthropic-version");
  ASSERT_NE(version, received[0].headers.end());
  EXPECT_EQ(version->second, "2023-06-01");
  EXPECT_FALSE(received[0].headers.count("Authorization"));
  Json body = Json::parse(received[0].body);
  EXPECT_EQ(body["model"], "claude-sonnet-4-20250514");
  EXPECT_EQ(body["system"], "You write fast CUDA kernels.");
  EXPECT_EQ(body["max_tokens"], 2048);
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.3);
  EXPECT_EQ(body["messages"], Json::array({{{"role", "user"}, {"content", "Write a row softmax."}}}));
}

TEST_F(LlmClientTest, AnthropicBaseUrlEndingInV1IsNotDoubled) {
  server_.Script({{200, AnthropicReply({"ok"}, 1, 1)}});
  LlmConfig config = AnthropicConfig();
  config.base_url = server_.AnthropicBase() + "/v1/";
  ASSERT_TRUE(Client(config)->Complete(SampleRequest()).ok());
  ASSERT_EQ(server_.Requests().size(), 1u);
  EXPECT_EQ(server_.Requests()[0].path, "/v1/messages");
}

TEST_F(LlmClientTest, InvalidUtf8InPromptIsSentAsReplacementCharacters) {
  server_.Script({{200, OpenAiReply("ok", 1, 1)}});
  CompletionRequest request = SampleRequest();
  request.messages[0].content = "bad byte \xff here";
  ASSERT_TRUE(Client(OpenAiConfig())->Complete(request).ok());
  Json body = Json::parse(server_.Requests().at(0).body);
  EXPECT_EQ(body["messages"][1]["content"], "bad byte \xEF\xBF\xBD here");
}

TEST_F(LlmClientTest, DebugLogsNeverContainTheKey) {
  server_.Script({{500, fmt::format(R"({{"error":{{"message":"key {} broke us"}}}})", kApiKey)},
                  {200, OpenAiReply("ok", 1, 1)}});
  core::LogLevel previous = core::GetLogLevel();
  core::SetLogLevel(core::LogLevel::kDebug);
  testing::internal::CaptureStderr();
  core::Expected<Completion> completion = Client(OpenAiConfig())->Complete(SampleRequest());
  server_.Script({{401, fmt::format(R"({{"error":{{"message":"bad key {}"}}}})", kApiKey)}});
  core::Expected<Completion> rejected = Client(OpenAiConfig())->Complete(SampleRequest());
  std::string logged = testing::internal::GetCapturedStderr();
  core::SetLogLevel(previous);

  ASSERT_TRUE(completion.ok()) << completion.error().ToString();
  ASSERT_FALSE(rejected.ok());
  // The client did log the request, the retry (quoting the server's message) and the reply...
  EXPECT_TRUE(Contains(logged, "POST")) << logged;
  EXPECT_TRUE(Contains(logged, "retrying")) << logged;
  EXPECT_TRUE(Contains(logged, "broke us")) << logged;
  // ...and the key appears in none of it.
  EXPECT_FALSE(Contains(logged, kApiKey)) << logged;
  EXPECT_FALSE(Contains(rejected.error().message, kApiKey));
}

}  // namespace
}  // namespace kf::llm
