// eval/static_check.h — stage 1 of the cascade: reject what must never run or be timed.
//
// Rules run on the code with comments and string/char literals blanked (so a comment cannot
// trip or satisfy a rule), per backend vocabulary. They catch what runtime checks cannot:
// calling the reference, reading clocks, escaping the timed region with threads/processes,
// raw syscalls or inline asm that could forge the result channel, touching harness symbols,
// and breaking the task's EVOLVE blocks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "task/task.h"

namespace kf::eval {

struct StaticFinding {
  std::string rule;     // "calls_reference", "reads_clock", "spawns_threads", ...
  int line = 0;         // 1-based line in the candidate
  std::string excerpt;  // the offending token
  std::string reason;   // one sentence a user (or LLM) can act on
};

/// Comments and string/char literals replaced by spaces, line structure kept.
std::string StripCommentsAndStrings(std::string_view code);

/// All findings; empty means the candidate may be compiled. `frozen_template` is the task's seed
/// with EVOLVE blocks (empty when the task has none): code outside its blocks must not change.
std::vector<StaticFinding> CheckStatic(const task::Task& task, std::string_view code,
                                       std::string_view frozen_template = {});

}  // namespace kf::eval
