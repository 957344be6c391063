// Installed packages from dpkg's and apk's databases (rpm's: rpmdb.cc): both are stanzas
// separated by blank lines ("Key: value" with continuation lines for
// dpkg, "K:value" for apk), read leniently: a database is the image
// author's, and a line we do not understand is skipped, never fatal.
#include <algorithm>
#include <cctype>
#include <functional>
#include <tuple>

#include "attest/attest.h"
#include "attest/rpmdb.h"
#include "base/strings.h"

namespace drydock::attest {
namespace {

using Fields = std::map<std::string, std::string>;

// Calls `fn` with each stanza's fields. `split` cuts a line into key and
// value; a line starting with a blank continues the previous value.
void ForEachStanza(std::string_view text, size_t separator,
                   const std::function<void(const Fields&)>& fn) {
  Fields fields;
  std::string last;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    if (line.empty()) {
      if (!fields.empty()) fn(fields);
      fields.clear();
      last.clear();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (!last.empty()) fields[last] += "\n" + std::string(line.substr(1));
      continue;
    }
    size_t colon = separator == 0 ? line.find(':') : separator;
    if (colon == std::string_view::npos || colon >= line.size() || line[colon] != ':') continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    last = std::string(line.substr(0, colon));
    fields[last] = std::string(value);
  }
  if (!fields.empty()) fn(fields);
}

std::string Get(const Fields& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? "" : it->second;
}

// "Status: install ok installed": the last word is the state; a distroless
// status.d file has no Status and lists only what is installed.
bool DpkgInstalled(const Fields& f) {
  auto it = f.find("Status");
  if (it == f.end()) return true;
  const std::string& s = it->second;
  size_t space = s.find_last_of(' ');
  return s.substr(space == std::string::npos ? 0 : space + 1) == "installed";
}

void ReadDpkg(std::string_view text, std::vector<Package>& out) {
  ForEachStanza(text, 0, [&](const Fields& f) {
    if (Get(f, "Package").empty() || !DpkgInstalled(f)) return;
    Package p;
    p.type = "deb";
    p.name = Get(f, "Package");
    p.version = Get(f, "Version");
    p.arch = Get(f, "Architecture");
    p.source = Get(f, "Source");
    if (size_t paren = p.source.find(' '); paren != std::string::npos) p.source.resize(paren);
    out.push_back(std::move(p));
  });
}

void ReadApk(std::string_view text, std::vector<Package>& out) {
  ForEachStanza(text, 1, [&](const Fields& f) {
    if (Get(f, "P").empty()) return;
    Package p;
    p.type = "apk";
    p.name = Get(f, "P");
    p.version = Get(f, "V");
    p.arch = Get(f, "A");
    p.source = Get(f, "o");
    p.license = Get(f, "L");
    out.push_back(std::move(p));
  });
}

// The purl spec percent-encodes all but letters, digits, . - _ ~ and ':'.
std::string Escape(std::string_view s) { return PercentEncode(s, ":"); }

std::string Unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    v = v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

OsRelease ParseOsRelease(std::string_view text) {
  OsRelease os;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key(line.substr(0, eq)), value = Unquote(std::string(line.substr(eq + 1)));
    if (key == "ID") os.id = value;
    if (key == "VERSION_ID") os.version_id = value;
    if (key == "PRETTY_NAME") os.pretty_name = value;
  }
  return os;
}

std::string PackageUrl(const Package& p, const OsRelease& os) {
  static const std::map<std::string, std::string> kDefaultNamespace = {
      {"apk", "alpine"}, {"deb", "debian"}, {"rpm", "redhat"}};
  std::string ns = AsciiLower(os.id);
  if (ns.empty()) {
    auto it = kDefaultNamespace.find(p.type);
    ns = it != kDefaultNamespace.end() ? it->second : p.type;
  }
  std::map<std::string, std::string> q;  // sorted, as the spec's canonical form
  std::string version = p.version;
  if (size_t colon = version.find(':'); p.type == "rpm" && colon != std::string::npos) {
    q["epoch"] = version.substr(0, colon);
    version.erase(0, colon + 1);
  }
  if (!p.arch.empty()) q["arch"] = p.arch;
  if (!os.id.empty() && !os.version_id.empty())
    q["distro"] = AsciiLower(os.id) + "-" + os.version_id;
  if (!p.source.empty() && p.source != p.name) q["upstream"] = p.source;
  std::string purl = "pkg:" + p.type + "/" + Escape(ns) + "/" + Escape(AsciiLower(p.name));
  if (!version.empty()) purl += "@" + Escape(version);
  char sep = '?';
  for (const auto& [k, v] : q) {
    purl += sep + k + "=" + Escape(v);
    sep = '&';
  }
  return purl;
}

std::vector<Package> ReadPackages(const PackageDatabases& dbs, OsRelease* os_out) {
  OsRelease os = ParseOsRelease(dbs.os_release);
  std::vector<Package> out;
  ReadDpkg(dbs.dpkg_status, out);
  for (const auto& file : dbs.dpkg_status_d) ReadDpkg(file, out);
  ReadApk(dbs.apk_installed, out);
  internal::ReadRpmSqlite(dbs.rpmdb_sqlite, out);
  for (auto& p : out) p.purl = PackageUrl(p, os);
  std::sort(out.begin(), out.end(), [](const Package& a, const Package& b) {
    return std::tie(a.type, a.name, a.arch, a.version) <
           std::tie(b.type, b.name, b.arch, b.version);
  });
  // A package listed in both status and status.d is one package.
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Package& a, const Package& b) {
                          return a.type == b.type && a.name == b.name && a.arch == b.arch &&
                                 a.version == b.version;
                        }),
            out.end());
  if (os_out) *os_out = os;
  return out;
}

}  // namespace drydock::attest
