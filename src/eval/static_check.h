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

/// Rules: calls_reference, reads_clock, spawns_threads, spawns_processes, raw_system_access,
/// harness_symbol, evolve_blocks, missing_entry. Exiting early (exit, abort) is not a static
/// finding: the runtime result channel catches it.
struct StaticFinding {
  std::string rule;     // "calls_reference", "reads_clock", "spawns_threads", ...
  int line = 0;         // 1-based line in the candidate; 0 for whole-file findings
                        // (evolve_blocks, missing_entry)
  std::string excerpt;  // the offending token
  std::string reason;   // one sentence a user (or LLM) can act on
};

/// Comments and string/char literals replaced by spaces, line structure kept: every line of the
/// result holds the code of the same line of the input. Details:
///  - a string literal keeps its quotes (`extern "C"` stays visible as `extern " "`); raw strings
///    R"d(...)d" are blanked whole; char literals vanish entirely, quotes included;
///  - a ' inside a number (1'000'000) is a digit separator and stays;
///  - the header name of `#include "x"` / `<x>` and the text of `_Pragma("...")` are directives,
///    not data, and stay;
///  - line splices (backslash-newline) join lines as the compiler does; the removed newlines
///    are emitted at the end of the joined line, so later line numbers do not shift.
std::string StripCommentsAndStrings(std::string_view code);

/// All findings, in line order, at most one per rule and line and one per rule and construct;
/// empty means the candidate may be compiled. `frozen_template` is the task's seed with EVOLVE
/// blocks (empty when the task has none): code outside its blocks must not change. The
/// vocabulary depends on task.backend; torch candidates (Python) get only the EVOLVE check.
/// Thread-safe.
std::vector<StaticFinding> CheckStatic(const task::Task& task, std::string_view code,
                                       std::string_view frozen_template = {});

}  // namespace kf::eval
