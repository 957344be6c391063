#include "oci/reference.h"

#include <string>

namespace drydock::oci {
namespace {

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: alphanumeric runs joined by '.', '_', '__' or any number of '-'.
// Checked by hand rather than std::regex because it runs on every request and
// std::regex recursion is unbounded on long inputs.
bool ValidComponent(std::string_view c) {
  size_t i = 0;
  auto run = [&] {
    size_t start = i;
    while (i < c.size() && IsAlnumLower(c[i])) ++i;
    return i > start;
  };
  if (!run()) return false;
  while (i < c.size()) {
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (!run()) return false;
  }
  return true;
}

}  // namespace

Status ValidateRepositoryName(std::string_view name) {
  if (name.empty() || name.size() > 255) {
    return Invalid("repository name must be 1 to 255 characters");
  }
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    auto comp = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!ValidComponent(comp)) {
      return Invalid("invalid repository name '" + std::string(name) +
                     "': components must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*");
    }
    if (slash == std::string_view::npos) return Status::Ok();
    start = slash + 1;
  }
}

Status ValidateTag(std::string_view tag) {
  auto bad = [&] {
    return Invalid("invalid tag '" + std::string(tag) +
                   "': must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
  };
  if (tag.empty() || tag.size() > 128) return bad();
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag[0])) return bad();
  for (char c : tag.substr(1)) {
    if (!word(c) && c != '.' && c != '-') return bad();
  }
  return Status::Ok();
}

std::string ImageReference::Reference() const { return digest ? digest->str() : tag; }

std::string ImageReference::String() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (digest) s += "@" + digest->str();
  return s;
}

Result<ImageReference> ParseImageReference(std::string_view text,
                                           std::string_view default_registry) {
  ImageReference r;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto d = Digest::Parse(rest.substr(at + 1));
    if (!d.ok())
      return Invalid("image reference '" + std::string(text) + "': " + d.status().message());
    r.digest = *d;
    rest = rest.substr(0, at);
  }
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    auto first = rest.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost") {
      r.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (r.registry.empty()) r.registry = std::string(default_registry);
  // A ':' after the last '/' starts the tag.
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
    r.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (auto s = ValidateTag(r.tag); !s.ok())
      return Invalid("image reference '" + std::string(text) + "': " + s.message());
  }
  r.repository = std::string(rest);
  if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos)
    r.repository = "library/" + r.repository;
  if (auto s = ValidateRepositoryName(r.repository); !s.ok()) {
    return Invalid("image reference '" + std::string(text) + "': " + s.message());
  }
  if (r.tag.empty() && !r.digest) r.tag = "latest";
  return r;
}

}  // namespace drydock::oci
