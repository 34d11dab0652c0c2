#include "exec/redis_server.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <thread>
#include <vector>

namespace kf::exec {
namespace fs = std::filesystem;

namespace {

int FreeLoopbackPort() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(s);
  return ok ? ntohs(a.sin_port) : 0;
}

bool Answers(int port) {
  timeval tv{0, 200'000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  bool pong = false;
  if (c != nullptr && c->err == 0) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    // PONG, or NOAUTH when a password is required: either way it is up.
    pong = r != nullptr && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
    if (r != nullptr) freeReplyObject(r);
  }
  if (c != nullptr) redisFree(c);
  return pong;
}

}  // namespace

RedisServerProcess::RedisServerProcess(fs::path dir, std::string password)
    : dir_(std::move(dir)), password_(std::move(password)), port_(FreeLoopbackPort()) {}

RedisServerProcess::~RedisServerProcess() { Stop(SIGKILL); }

bool RedisServerProcess::Installed() { return std::system("command -v redis-server >/dev/null 2>&1") == 0; }

std::string RedisServerProcess::Url() const { return fmt::format("redis://127.0.0.1:{}", port_); }

core::Expected<void> RedisServerProcess::Start() {
  std::error_code ec;
  fs::create_directories(dir_ / "data", ec);
  std::vector<std::string> argv = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                         "--dir", (dir_ / "data").string(), "--appendonly", "yes",
                                         "--appendfsync", "always", "--save", "", "--daemonize", "no",
                                         "--logfile", (dir_ / "redis.log").string()};
  if (!password_.empty()) {
    argv.push_back("--requirepass");
    argv.push_back(password_);
  }
  pid_ = ::fork();
  if (pid_ < 0) return core::MakeError(core::ErrorCode::kIo, "fork failed");
  if (pid_ == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  for (int i = 0; i < 1000; ++i) {
    if (Answers(port_)) return core::Ok();
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Stop(SIGKILL);
  return core::MakeError(core::ErrorCode::kToolchain,
                         fmt::format("redis-server did not start on port {}; see {}", port_, (dir_ / "redis.log").string()));
}

void RedisServerProcess::Stop(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace kf::exec
