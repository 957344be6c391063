// Blob reads and deletes: GET/HEAD with Range, DELETE.
#include <cstdlib>

#include "registry/impl.h"

namespace drydock::registry {
namespace {

struct ByteRange {
  uint64_t first = 0, length = 0;
};

// Parses one "bytes=a-b" / "bytes=a-" / "bytes=-n" range against `size`.
// nullopt: serve the whole blob (no or multi-range header). Error: 416.
Result<std::optional<ByteRange>> ParseRange(const std::string& header, uint64_t size) {
  if (header.empty()) return std::optional<ByteRange>();
  if (header.rfind("bytes=", 0) != 0 || header.find(',') != std::string::npos)
    return std::optional<ByteRange>();
  std::string spec = header.substr(6);
  auto dash = spec.find('-');
  if (dash == std::string::npos) return OutOfRange("malformed Range '" + header + "'");
  std::string a = spec.substr(0, dash), b = spec.substr(dash + 1);
  auto number = [](const std::string& s, uint64_t& out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19)
      return false;
    out = std::strtoull(s.c_str(), nullptr, 10);
    return true;
  };
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: the last n bytes
    uint64_t n = 0;
    if (!number(b, n) || n == 0 || size == 0)
      return OutOfRange("unsatisfiable Range '" + header + "'");
    n = std::min(n, size);
    return std::optional<ByteRange>(ByteRange{size - n, n});
  }
  if (!number(a, first)) return OutOfRange("malformed Range '" + header + "'");
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!number(b, last) || last < first) {
    return OutOfRange("malformed Range '" + header + "'");
  }
  if (first >= size)
    return OutOfRange("Range '" + header + "' starts beyond the blob's " + std::to_string(size) +
                      " bytes");
  last = std::min(last, size - 1);
  return std::optional<ByteRange>(ByteRange{first, last - first + 1});
}

}  // namespace

void Registry::Impl::GetBlob(Ctx& c, const std::string& digest_text) {
  if (!Authorize(c, auth::kPull)) return;
  auto d = oci::Digest::Parse(digest_text);
  if (!d.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", d.status().message());
  auto linked = meta.LinkedBlobSize(c.repo, *d);
  if (!linked.ok()) return SendStatus(c.resp, linked.status(), "BLOB_UNKNOWN");
  if (!*linked)
    return SendError(c.resp, 404, "BLOB_UNKNOWN",
                     "blob " + d->str() + " is not in repository " + c.repo);
  // Bytes in an object store can go to the client from there (a HEAD is
  // still answered here, as distribution does).
  if (c.req.method == "GET") {
    auto url = blobs.DirectUrl(*d);
    if (!url.ok()) return SendStatus(c.resp, url.status(), "BLOB_UNKNOWN");
    if (!url->empty()) {
      c.resp.status = 307;
      c.resp.Set("Location", *url);
      c.resp.Set("Docker-Content-Digest", d->str());
      return;
    }
  }
  auto reader = blobs.Open(*d);
  if (!reader.ok()) return SendStatus(c.resp, reader.status(), "BLOB_UNKNOWN");
  std::shared_ptr<storage::BlobReader> r = std::move(*reader);
  uint64_t size = r->size();
  auto& resp = c.resp;
  resp.Set("Docker-Content-Digest", d->str());
  resp.Set("Accept-Ranges", "bytes");
  resp.Set("Etag", "\"" + d->str() + "\"");
  resp.Set("Cache-Control", "max-age=31536000");
  auto range = ParseRange(c.req.Header("Range"), size);
  if (!range.ok()) {
    SendError(resp, 416, "RANGE_INVALID", range.status().message());
    resp.Set("Content-Range", "bytes */" + std::to_string(size));
    return;
  }
  ByteRange br{0, size};
  if (*range) {
    br = **range;
    resp.status = 206;
    resp.Set("Content-Range", "bytes " + std::to_string(br.first) + "-" +
                                  std::to_string(br.first + br.length - 1) + "/" +
                                  std::to_string(size));
  }
  resp.Set("Content-Type", "application/octet-stream");
  resp.head_only = c.req.method == "HEAD";
  http::BodySource src;
  src.offset = br.first;
  src.length = br.length;
  src.fd = r->fd();
  src.copy = [r](uint64_t off, uint64_t len, const http::ByteSink& sink) {
    return r->CopyTo(off, len, sink);
  };
  src.owner = r;
  resp.source = std::move(src);
}

void Registry::Impl::DeleteBlob(Ctx& c, const std::string& digest_text) {
  if (!Authorize(c, auth::kDelete)) return;
  auto d = oci::Digest::Parse(digest_text);
  if (!d.ok()) return SendError(c.resp, 400, "DIGEST_INVALID", d.status().message());
  // Only the repository's link goes; the bytes are reclaimed by GC once no
  // repository links them, which keeps deduplicated blobs safe.
  auto s = meta.UnlinkBlob(c.repo, *d);
  if (!s.ok()) return SendStatus(c.resp, s, "BLOB_UNKNOWN");
  c.resp.status = 202;
  c.resp.Set("Docker-Content-Digest", d->str());
}

}  // namespace drydock::registry
