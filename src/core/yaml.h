// core/yaml.h — helpers shared by the readers of YAML files (task packages, ensemble files).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace kf::core {

/// What a node holds, for error messages: "a list", "an empty map", "'text'", "nothing".
std::string DescribeYamlNode(const YAML::Node& node);

}  // namespace kf::core
