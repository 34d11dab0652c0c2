#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "llm/llm_client.h"

namespace kf::llm {
namespace {

// USD per million tokens, list prices. Keys are prefixes, so dated snapshots
// ("gpt-4o-2024-08-06", "claude-sonnet-4-20250514") resolve to their family; a more specific key
// ("gpt-4o-mini") wins over a shorter one ("gpt-4o") because the longest prefix is chosen.
PriceTable BuiltInPrices() {
  return {
      {"gpt-4o", {2.5, 10.0}},
      {"gpt-4o-mini", {0.15, 0.6}},
      {"gpt-4.1", {2.0, 8.0}},
      {"gpt-4.1-mini", {0.4, 1.6}},
      {"gpt-4.1-nano", {0.1, 0.4}},
      {"gpt-5", {1.25, 10.0}},
      {"gpt-5-mini", {0.25, 2.0}},
      {"gpt-5-nano", {0.05, 0.4}},
      {"o1", {15.0, 60.0}},
      {"o1-mini", {1.1, 4.4}},
      {"o3", {2.0, 8.0}},
      {"o3-mini", {1.1, 4.4}},
      {"o4-mini", {1.1, 4.4}},
      {"claude-opus-4", {15.0, 75.0}},
      {"claude-opus-4-5", {5.0, 25.0}},
      {"claude-sonnet-4", {3.0, 15.0}},
      {"claude-haiku-4-5", {1.0, 5.0}},
      {"claude-3-7-sonnet", {3.0, 15.0}},
      {"claude-3-5-sonnet", {3.0, 15.0}},
      {"claude-3-5-haiku", {0.8, 4.0}},
  };
}

core::Expected<double> NonNegativeNumber(const core::Json& entry, const char* field, const std::string& where) {
  auto it = entry.find(field);
  if (it == entry.end() || !it->is_number() || it->get<double>() < 0) {
    return core::MakeError(core::ErrorCode::kValidation,
                           fmt::format("{}: \"{}\" must be a non-negative number (USD per million tokens)", where, field));
  }
  return it->get<double>();
}

core::Expected<PriceTable> ReadPriceFile(const std::string& path) {
  core::Expected<std::string> text = core::ReadFile(path);
  if (!text.ok()) return core::MakeError(text.error().code, "price file named by KF_PRICES: " + text.error().message);
  KF_TRY(core::Json doc, core::ParseJson(*text, fmt::format("price file {} (KF_PRICES)", path)));
  if (!doc.is_object()) {
    return core::MakeError(core::ErrorCode::kValidation,
                           fmt::format("price file {} (KF_PRICES): expected an object "
                                       "{{\"model\": {{\"input\": 3.0, \"output\": 15.0}}}}",
                                       path));
  }
  PriceTable table;
  for (const auto& [model, entry] : doc.items()) {
    std::string where = fmt::format("price file {} (KF_PRICES), entry \"{}\"", path, model);
    if (model.empty() || !entry.is_object()) {
      return core::MakeError(core::ErrorCode::kValidation,
                             fmt::format("{}: expected a non-empty model name mapped to "
                                         "{{\"input\": ..., \"output\": ...}}",
                                         where));
    }
    KF_TRY(double input, NonNegativeNumber(entry, "input", where));
    KF_TRY(double output, NonNegativeNumber(entry, "output", where));
    table[model] = Price{input, output};
  }
  return table;
}

}  // namespace

core::Expected<PriceTable> LoadPriceTable() {
  PriceTable table = BuiltInPrices();
  const char* path = std::getenv("KF_PRICES");
  if (path == nullptr || *path == '\0') return table;
  KF_TRY(PriceTable overrides, ReadPriceFile(path));
  for (auto& [model, price] : overrides) table[model] = price;
  return table;
}

std::optional<Price> FindPrice(const PriceTable& table, const std::string& model) {
  std::optional<Price> best;
  std::size_t best_length = 0;
  for (const auto& [prefix, price] : table) {
    if (model.starts_with(prefix) && (!best || prefix.size() > best_length)) {
      best = price;
      best_length = prefix.size();
    }
  }
  return best;
}

std::optional<Price> LookupPrice(const std::string& model) {
  core::Expected<PriceTable> table = LoadPriceTable();
  if (!table.ok()) {
    core::LogWarn("ignoring KF_PRICES, using built-in prices: {}", table.error().message);
    return FindPrice(BuiltInPrices(), model);
  }
  return FindPrice(*table, model);
}

double CostUsd(const Price& price, const Usage& usage) {
  return (static_cast<double>(usage.input_tokens) * price.input_per_mtok +
          static_cast<double>(usage.output_tokens) * price.output_per_mtok) /
         1e6;
}

}  // namespace kf::llm
