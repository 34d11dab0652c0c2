#include "exec/worker.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace kf::exec {

std::string HostName() {
  char host[256] = {};
  return ::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' ? host : "unknown-host";
}

std::string DefaultWorkerName() {
  std::string name = HostName() == "unknown-host" ? "worker" : HostName();
  // The short host name, in characters every transport takes in a key or a file name, and short
  // enough for a spool's claim file names (exec/spool.h: 32 characters with the pid).
  name = name.substr(0, std::min<std::size_t>(name.find('.'), 24));
  if (name.empty()) name = "worker";
  for (char& c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') c = '-';
  }
  return fmt::format("{}-{}", name, ::getpid());
}

}  // namespace kf::exec
