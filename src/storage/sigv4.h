// AWS Signature Version 4 for S3 requests. libcurl 7.88 (Debian 12) can sign
// a request too, but sorts headers by "name:value" instead of by name (so a
// part copy, with x-amz-copy-source and x-amz-copy-source-range, is refused)
// and cannot presign a URL. Internal to storage/.
#pragma once

#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace drydock::storage::internal {

struct SigV4Key {
  std::string access_key, secret_key, region, service = "s3";
};

// The headers to send with a request (x-amz-date, x-amz-content-sha256:
// UNSIGNED-PAYLOAD, Authorization), signing `host` and every x-amz-* header
// of `headers` ("name: value"). `path` and `query` are already
// URI-encoded, the query's parameters sorted by name.
std::vector<std::string> SignV4(const SigV4Key& key, const std::string& method,
                                const std::string& host, const std::string& path,
                                const std::string& query, const std::vector<std::string>& headers,
                                std::time_t now);

// `query` with the X-Amz-* parameters of a URL anyone may GET until
// now + expires_seconds (the query must be empty or sorted before "X-Amz").
std::string PresignV4Query(const SigV4Key& key, const std::string& host, const std::string& path,
                           std::time_t now, int expires_seconds);

// "http://h:80/x" -> "h": the Host header a client sends for `endpoint`.
std::string HostOf(const std::string& endpoint);

}  // namespace drydock::storage::internal
