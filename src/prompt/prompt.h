// prompt/prompt.h — building prompts and turning replies back into code.
//
// The prompt carries the task (description, signature, shapes, tolerance, instructions), the
// reference, the parent kernel and the parent's evaluation feedback, and optionally elites to
// borrow ideas from, notes from the search and the guidance sections of an evolved meta-prompt
// (meta_prompt.h). A reply yields code either as a fenced block holding the whole file or as
// SEARCH/REPLACE diffs applied to the parent; a reply that yields nothing applicable says why.
// When the parent has EVOLVE blocks, code outside them must stay byte-identical.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "task/task.h"

namespace kf::prompt {

struct Prompt {
  std::string system;
  std::string user;
};

/// A kernel shown in the prompt, with its evaluation feedback already formatted as text.
struct ShownKernel {
  std::string code;
  std::string feedback;
};

/// Another elite shown for ideas, e.g. from another cell of the archive.
struct Inspiration {
  /// One line saying what it is, e.g. "cell memory_opt=2 compute_opt=1 parallelism_opt=2, 1.8x".
  std::string label;
  ShownKernel kernel;  // an empty feedback shows the code alone
};

struct RefineInput {
  const task::Task* task = nullptr;
  ShownKernel parent;
  /// Earlier attempts from the same lineage, most recent last (feedback trimmed by the caller).
  std::vector<ShownKernel> history;
  /// At most this many of the most recent attempts are shown; older ones are dropped.
  std::size_t max_history = 3;
  /// Instruction sections as (heading, text), e.g. a meta-prompt's InstructionSections(); shown in
  /// order under "## Guidance", each under its heading. Empty sections are skipped.
  std::vector<std::pair<std::string, std::string>> instructions;
  /// Shown after the parent and its history, each whole, for ideas only: the reply must still
  /// modify the parent.
  std::vector<Inspiration> inspirations;
  /// Free text from the search (where the parent sits, which moves helped), shown when non-blank.
  std::string search_notes;
  /// The paper's templating step: the parent is correct and declares no tunable parameters, so
  /// the prompt asks for them (`// @param`, tune/space.h); each configuration is then timed.
  bool ask_for_parameters = false;
};

/// The refine prompt: improve (or repair) the parent. Asks for either the whole file in one
/// fenced block or SEARCH/REPLACE blocks, and states the exact entry signature. An empty parent
/// code asks for a first version (whole file only). Empty instructions, inspirations and search
/// notes add nothing, so such a prompt is the plain refine prompt. Deterministic: equal inputs
/// give equal prompts. `input.task` must not be null.
Prompt BuildRefinePrompt(const RefineInput& input);

enum class ExtractKind {
  kFullFile,    // a fenced code block holding the whole file
  kDiff,        // SEARCH/REPLACE blocks applied to the parent
  kNoCode,      // the reply has neither
  kDiffFailed,  // a SEARCH block did not match the parent exactly once
  kEvolveViolation,  // the result changes code outside the parent's EVOLVE blocks
};
std::string_view ExtractKindName(ExtractKind k);  // "full_file", "diff", "no_code", ...

struct Extraction {
  ExtractKind kind = ExtractKind::kNoCode;
  /// The candidate's full source when kind is kFullFile or kDiff, also kept (for the record)
  /// when kind is kEvolveViolation. Line endings are "\n" and the last line ends with one.
  std::string code;
  std::string error;  // why nothing usable came out, for the log and the next prompt
  bool ok() const { return kind == ExtractKind::kFullFile || kind == ExtractKind::kDiff; }
};

/// Extracts the candidate from an LLM reply. SEARCH/REPLACE blocks take the form
///   <<<<<<< SEARCH\n...\n=======\n...\n>>>>>>> REPLACE
/// and win when present: they apply in order, each SEARCH matching whole lines of the current
/// text exactly once (exact first; ignoring trailing whitespace per line as a fallback).
/// Otherwise fenced blocks (``` or ~~~): the last one with a language tag of c/cpp/c++/cuda/cu,
/// else the longest; a reply ending inside a fence is kNoCode ("truncated?"). "\r\n" counts
/// as "\n" in both reply and parent. Enforces EVOLVE blocks against the parent.
Extraction ExtractCode(std::string_view reply, std::string_view parent_code);

/// Applies the SEARCH/REPLACE blocks of `reply` to `text` with ExtractCode's rules (blocks in
/// order, each SEARCH matching whole lines exactly once, exact first, then ignoring trailing
/// whitespace; "\r\n" counts as "\n"; text outside blocks is ignored). Returns the edited text
/// with "\n" line endings and a final newline. Fails (kParse) when the reply has no blocks, a block
/// is malformed or unclosed, or a SEARCH part is empty or matches 0 or several times; the message
/// names the block and calls the text `text_name` ("the parent", "the sections").
core::Expected<std::string> ApplySearchReplace(std::string_view reply, std::string_view text,
                                               std::string_view text_name);

/// Markers, one per line, may be indented and carry trailing text.
inline constexpr std::string_view kEvolveStart = "EVOLVE-BLOCK-START";
inline constexpr std::string_view kEvolveEnd = "EVOLVE-BLOCK-END";

/// True when any line holds an EVOLVE-BLOCK-START or EVOLVE-BLOCK-END marker.
bool HasEvolveBlocks(std::string_view code);
/// Ok when `candidate` keeps every line outside the EVOLVE blocks of `original` unchanged and
/// has the same number of blocks; otherwise the error (kValidation) names the first changed line
/// of the frozen region by its line number in `original` and shows both versions. Marker lines
/// are frozen too; blocks cannot nest. Malformed markers in either file (END before START, a
/// START never closed, both on one line) are errors. Comparison is per line, with "\r\n" as
/// "\n" and a missing final newline not counted. Ok when `original` has no markers.
core::Expected<void> CheckEvolveBlocks(std::string_view original, std::string_view candidate);

}  // namespace kf::prompt
