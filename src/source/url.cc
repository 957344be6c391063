// URL helpers: redaction for logs and errors, and file names from URLs.
#include <algorithm>
#include <array>
#include <cctype>

#include "base/strings.h"
#include "source/internal.h"
#include "source/source.h"

namespace drydock::source {
namespace {

// Query parameters whose values are credentials in presigned or tokenised
// URLs (Azure SAS, S3, GCS, generic tokens).
constexpr std::array<std::string_view, 9> kSecretParams = {"sig",
                                                           "signature",
                                                           "token",
                                                           "access_token",
                                                           "x-amz-signature",
                                                           "x-amz-credential",
                                                           "x-amz-security-token",
                                                           "x-goog-signature",
                                                           "password"};

bool IsUrlEnd(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '"' || c == '<' ||
         c == '>' || c == '`';
}

bool IsSecretParam(std::string_view name) {
  std::string lower = AsciiLower(name);
  return std::find(kSecretParams.begin(), kSecretParams.end(), lower) != kSecretParams.end();
}

// Rewrites one URL (text[begin, end), begin at the scheme's "://").
std::string RedactOne(std::string_view url) {
  std::string out;
  size_t authority = url.find("://");
  if (authority == std::string_view::npos) return std::string(url);
  authority += 3;
  size_t path = url.find_first_of("/?#", authority);
  if (path == std::string_view::npos) path = url.size();
  size_t at = url.substr(authority, path - authority).rfind('@');
  out.append(url.substr(0, authority));
  if (at != std::string_view::npos) {
    out += "***";
    out.append(url.substr(authority + at, path - authority - at));
  } else {
    out.append(url.substr(authority, path - authority));
  }
  size_t query = url.find('?', path);
  size_t fragment = url.find('#', path);
  if (query == std::string_view::npos || (fragment != std::string_view::npos && fragment < query)) {
    out.append(url.substr(path));
    return out;
  }
  out.append(url.substr(path, query + 1 - path));
  size_t qend = fragment == std::string_view::npos ? url.size() : fragment;
  std::string_view q = url.substr(query + 1, qend - query - 1);
  for (size_t start = 0; start <= q.size();) {
    size_t amp = std::min(q.find('&', start), q.size());
    std::string_view param = q.substr(start, amp - start);
    if (start > 0) out += '&';
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && IsSecretParam(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1));
      out += "***";
    } else {
      out.append(param);
    }
    start = amp + 1;
  }
  out.append(url.substr(qend));
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string SafeFileName(std::string_view name) {
  auto slash = name.find_last_of('/');
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  if (name.empty() || name == "." || name == ".." || name.find('\0') != std::string_view::npos)
    return "";
  return std::string(name);
}

std::string RedactText(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t sep = text.find("://", pos);
    if (sep == std::string_view::npos) break;
    // The scheme: letters, digits, + - . before "://".
    size_t begin = sep;
    while (begin > pos &&
           (std::isalnum(static_cast<unsigned char>(text[begin - 1])) || text[begin - 1] == '+' ||
            text[begin - 1] == '-' || text[begin - 1] == '.')) {
      --begin;
    }
    size_t end = sep + 3;
    while (end < text.size() && !IsUrlEnd(text[end])) ++end;
    out.append(text.substr(pos, begin - pos));
    out += RedactOne(text.substr(begin, end - begin));
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

std::string RedactUrl(std::string_view url) { return RedactOne(url); }

std::string UrlFileName(std::string_view url) {
  size_t scheme = url.find("://");
  size_t path = scheme == std::string_view::npos ? 0 : url.find('/', scheme + 3);
  if (path == std::string_view::npos) return "";
  size_t end = url.find_first_of("?#", path);
  std::string_view p = url.substr(path, end == std::string_view::npos ? end : end - path);
  return SafeFileName(PercentDecode(p.substr(p.find_last_of('/') + 1)));
}

}  // namespace drydock::source
