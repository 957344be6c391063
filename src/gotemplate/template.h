// Go text/template, as ACR (acb) renders multi-step task files before parsing them: the template
// language, Go's builtin functions and the commonly used Sprig functions, over JSON data.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace drydock::gotemplate {

// Renders `source` as Go's text/template would with `data` as dot, with Option("missingkey=zero")
// semantics and ACR's post-processing: a missing map key renders as empty text (never
// "<no value>"). Errors are kInvalid and start with "<name>:<line>:<col>: " locating the problem
// in `source` (1-based line and column, the column counted in UTF-8 characters), e.g.
//   task.yaml:3:14: function "uper" not defined
//   task.yaml:7:1: unexpected EOF: {{if}} has no {{end}}   (located at the {{if}})
//   task.yaml:2:5: unclosed action                          (located at the "{{")
//   task.yaml:4:9: error calling index: index out of range: 5
// Runaway templates fail cleanly: more than 100 nested blocks, more than 16 MiB of output (or of
// any one string value), more than 64 MiB of values copied or made while rendering, or more than
// a million evaluation steps.
Result<std::string> RenderTemplate(std::string_view source, const nlohmann::json& data,
                                   std::string_view name = "task.yaml");

}  // namespace drydock::gotemplate
