#include "storage/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>

#include "base/strings.h"
#include "oci/digest.h"

namespace drydock::storage::internal {
namespace {

constexpr const char* kAlgorithm = "AWS4-HMAC-SHA256";
constexpr const char* kUnsignedPayload = "UNSIGNED-PAYLOAD";

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &n);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string Format(std::time_t t, const char* fmt) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t") + 1);
  return s;
}

std::string Scope(const SigV4Key& key, const std::string& date) {
  return date + "/" + key.region + "/" + key.service + "/aws4_request";
}

// Hex of the signature of `canonical_request`.
std::string Signature(const SigV4Key& key, const std::string& amz_date,
                      const std::string& canonical_request) {
  std::string date = amz_date.substr(0, 8);
  std::string to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + Scope(key, date) + "\n" +
                        oci::Digest::Of(canonical_request).hex();
  std::string k = Hmac("AWS4" + key.secret_key, date);
  k = Hmac(k, key.region);
  k = Hmac(k, key.service);
  k = Hmac(k, "aws4_request");
  std::string sig = Hmac(k, to_sign);
  return Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

}  // namespace

std::vector<std::string> SignV4(const SigV4Key& key, const std::string& method,
                                const std::string& host, const std::string& path,
                                const std::string& query, const std::vector<std::string>& headers,
                                std::time_t now) {
  std::string amz_date = Format(now, "%Y%m%dT%H%M%SZ");
  std::map<std::string, std::string> signed_headers = {
      {"host", host}, {"x-amz-content-sha256", kUnsignedPayload}, {"x-amz-date", amz_date}};
  for (const auto& h : headers) {
    auto colon = h.find(':');
    std::string name = AsciiLower(h.substr(0, colon));
    if (colon != std::string::npos && name.rfind("x-amz-", 0) == 0)
      signed_headers[name] = Trim(h.substr(colon + 1));
  }
  std::string canonical = method + "\n" + path + "\n" + query + "\n", names;
  for (const auto& [name, value] : signed_headers) {  // sorted by name
    canonical += name + ":" + value + "\n";
    names += (names.empty() ? "" : ";") + name;
  }
  canonical += "\n" + names + "\n" + kUnsignedPayload;
  return {"x-amz-date: " + amz_date, std::string("x-amz-content-sha256: ") + kUnsignedPayload,
          std::string("Authorization: ") + kAlgorithm + " Credential=" + key.access_key + "/" +
              Scope(key, amz_date.substr(0, 8)) + ", SignedHeaders=" + names +
              ", Signature=" + Signature(key, amz_date, canonical)};
}

std::string PresignV4Query(const SigV4Key& key, const std::string& host, const std::string& path,
                           std::time_t now, int expires_seconds) {
  std::string amz_date = Format(now, "%Y%m%dT%H%M%SZ");
  std::string query = "X-Amz-Algorithm=" + std::string(kAlgorithm) + "&X-Amz-Credential=" +
                      PercentEncode(key.access_key + "/" + Scope(key, amz_date.substr(0, 8))) +
                      "&X-Amz-Date=" + amz_date +
                      "&X-Amz-Expires=" + std::to_string(expires_seconds) +
                      "&X-Amz-SignedHeaders=host";
  std::string canonical =
      "GET\n" + path + "\n" + query + "\nhost:" + host + "\n\nhost\n" + kUnsignedPayload;
  return query + "&X-Amz-Signature=" + Signature(key, amz_date, canonical);
}

std::string HostOf(const std::string& endpoint) {
  bool https = endpoint.rfind("https://", 0) == 0;
  std::string rest =
      endpoint.substr(endpoint.find("://") == std::string::npos ? 0 : endpoint.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  std::string default_port = https ? ":443" : ":80";
  if (rest.size() > default_port.size() &&
      rest.compare(rest.size() - default_port.size(), default_port.size(), default_port) == 0)
    rest.resize(rest.size() - default_port.size());
  return rest;
}

}  // namespace drydock::storage::internal
