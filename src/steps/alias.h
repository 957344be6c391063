// The v1.1.0 `$alias` preprocessor of ACR multi-step task files. It runs on the raw task text,
// before template rendering and YAML parsing, exactly where acb runs it, so that alias values may
// themselves contain `{{.Run.X}}` or `{{.Values.x}}` templates.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "base/result.h"

namespace drydock::steps {

struct AliasOptions {
  // Image aliases from the server's configuration (there is no Docker Hub or MCR here), e.g.
  // {"bash": "r:5000/tools/bash:1", "curl": …, "az": …, "acr": …}. They work as `$bash` anywhere
  // and as the bare first word of a `cmd:` value.
  std::map<std::string, std::string> images;
  // Reads an alias `src` file (a YAML map of name: value) given as a path relative to the task's
  // context; the caller confines it to the context. Empty: `src` entries are an error.
  std::function<Result<std::string>(const std::string& path)> read_source;
};

// The task file's `version` (found by a line scan of top-level lines, as acb does, also accepting
// a quoted "version" key); "v1.0.0" when absent.
std::string TaskFileVersion(std::string_view yaml);

// For version >= v1.1.0 only (otherwise returns the text unchanged):
//  - replaces $ID, $Registry, $RegistryName, $Date, $SharedVolume, $OS, $Architecture, $Commit and
//    $Branch with {{.Run.ID}} … {{.Run.Branch}};
//  - applies the custom aliases of the top-level `alias:` block ({values: {k: v}, src: [paths],
//    directive: '$'}): inline values win over later src files, later src over earlier, all over
//    the built-ins and the image aliases;
//  - a `cmd:` value whose first word is an image alias (options.images) or a custom alias gets
//    that value instead of the word;
//  - a doubled directive (`$$`) is one literal directive; an unknown `$word` is left as is; a
//    `$word` matches only an alias named exactly `word` (the whole run of letters and digits), so
//    $RegistryName is never read as $Registry + "Name".
// Alias names must match ^[a-zA-Z0-9]+$ and the directive must be one non-alphanumeric,
// non-space character. The `alias:` block is replaced by blank lines, so later errors still point
// at the user's lines. Errors (kInvalid) read "<name>:LINE:COL: message".
Result<std::string> PreprocessAliases(std::string_view yaml, const AliasOptions& options,
                                      std::string_view name = "task.yaml");

}  // namespace drydock::steps
