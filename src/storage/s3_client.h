// The few S3 calls the S3 blob store needs, signed with AWS Signature V4
// (sigv4.h) and sent with libcurl. Path-style URLs (endpoint/bucket/key), as every S3-compatible
// store accepts. Internal to storage/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "remote/http_client.h"
#include "storage/blob_store.h"

namespace drydock::storage::internal {

struct S3Object {
  std::string key;
  uint64_t size = 0;
  int64_t mtime = 0;  // unix seconds
};

struct S3Part {
  int number = 0;
  std::string etag;
};

class S3Client {
 public:
  explicit S3Client(S3Config config) : c_(std::move(config)) {}

  // kNotFound when the bucket does not exist.
  Status CheckBucket();
  Status CreateBucket();

  // nullopt when there is no such object.
  Result<std::optional<S3Object>> Head(const std::string& key);
  // Up to `length` bytes from `offset`; fewer at the end of the object.
  // kNotFound when there is no such object.
  Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t length);
  // `length` bytes from `offset` handed to `sink` as they arrive, in one
  // request; a false from `sink` stops it with kUnavailable.
  Status GetStream(const std::string& key, uint64_t offset, uint64_t length,
                   const std::function<bool(const char*, size_t)>& sink);
  Status Put(const std::string& key, std::string_view bytes);
  Status Delete(const std::string& key);
  Status Copy(const std::string& from, const std::string& to);
  // Every object under `prefix`, in key order.
  Status List(const std::string& prefix, const std::function<void(const S3Object&)>& fn);

  Result<std::string> CreateMultipart(const std::string& key);
  Result<std::string> UploadPart(const std::string& key, const std::string& upload_id, int number,
                                 std::string_view bytes);
  // A part copied from bytes [first, last] of another object (no download).
  Result<std::string> UploadPartCopy(const std::string& key, const std::string& upload_id,
                                     int number, const std::string& from, uint64_t first,
                                     uint64_t last);
  Status CompleteMultipart(const std::string& key, const std::string& upload_id,
                           const std::vector<S3Part>& parts);
  Status AbortMultipart(const std::string& key, const std::string& upload_id);

 private:
  // A signed request without its body; `query` already in canonical order and escaped.
  remote::HttpRequest Signed(const std::string& method, const std::string& key,
                             const std::string& query, std::vector<std::string> headers) const;
  // One signed request, sent.
  Result<remote::HttpResponse> Send(const std::string& method, const std::string& key,
                                    const std::string& query, std::string_view body = {},
                                    std::vector<std::string> headers = {});

  S3Config c_;
};

// "a/b c" → "a/b%20c": every byte but A-Z a-z 0-9 - . _ ~ (and / when `keep_slash`).
std::string S3Escape(std::string_view s, bool keep_slash);
// The text of each <tag>…</tag> in `xml` (entities decoded), in order.
std::vector<std::string> XmlValues(std::string_view xml, std::string_view tag);
// "2026-12-06T21:00:00.000Z" → unix seconds; 0 when malformed.
int64_t ParseIso8601(const std::string& s);

}  // namespace drydock::storage::internal
