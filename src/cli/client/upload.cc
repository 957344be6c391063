#include "cli/client/upload.h"

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "base/fd.h"
#include "cli/client/context_pack.h"

namespace drydock::client {

namespace fs = std::filesystem;

bool IsRemoteSource(const std::string& s) {
  if (s == "/dev/null" || s.find("://") != std::string::npos) return true;
  auto at = s.find('@'), colon = s.find(':'), slash = s.find('/');
  return at != std::string::npos && colon != std::string::npos && at < colon && colon < slash;
}

namespace {

std::string Kib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(bytes) / 1024);
  return buf;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

}  // namespace

Result<std::string> UploadContext(ApiClient& api, const fs::path& context,
                                  const fs::path& dockerfile, std::string* name_in_archive) {
  std::cerr << "Packing source code into tar to upload...\n";
  TempDir tmp(fs::temp_directory_path(), "drydock-context");
  auto start = std::chrono::steady_clock::now();
  DD_ASSIGN_OR_RETURN(packed, PackContext({context, dockerfile, name_in_archive == nullptr},
                                          tmp.path() / "ctx.tar.gz"));
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if (name_in_archive) *name_in_archive = packed.dockerfile;
  if (packed.excluded > 0)
    std::cerr << "Excluded " << packed.excluded << " path(s) matching .dockerignore\n";
  // The packing time tells users (and bench/quickbuild) what a big context costs.
  std::cerr << "Uploading archive (" << Kib(packed.size) << " KiB, " << packed.entries
            << " entries, packed in " << Seconds(took.count()) << "s) to " << api.server()
            << "...\n";
  UniqueFd fd(::open(packed.archive.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Internal("cannot reopen " + packed.archive.string());
  DD_ASSIGN_OR_RETURN(reply, api.Upload("/api/v1/contexts", fd.get(), packed.size));
  std::string id = reply.value("id", "");
  if (id.empty()) return Internal("the server accepted the context without an id");
  return "context:" + id;
}

}  // namespace drydock::client
