// The Go text/template engine on its own: task files are templates written by
// whoever can queue a run, rendered on the server. Runaway templates must end
// in an error (the engine's limits), never a crash or a hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gotemplate/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::json kData = nlohmann::json::parse(R"({
    "Run": {"ID": "ca1", "Registry": "registry.local:5000", "Date": "20240101-000000z",
            "Commit": "0123abcd", "Branch": "main", "SharedVolume": "/shared"},
    "Values": {"image": {"repo": "team/app", "tag": "1.2"}, "n": 3, "f": 2.5, "yes": true,
               "none": null, "list": [1, "two", [3], {"k": "v"}], "empty": {}},
    "Secrets": {"token": "s3cret"}
  })");
  std::string_view source(reinterpret_cast<const char*>(data), size);
  (void)drydock::gotemplate::RenderTemplate(source, kData);
  return 0;
}
