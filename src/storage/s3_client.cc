#include "storage/s3_client.h"

#include <curl/curl.h>

#include <ctime>

#include "base/strings.h"
#include "storage/sigv4.h"

namespace drydock::storage::internal {
namespace {

// S3's error body: <Error><Code>NoSuchKey</Code><Message>…</Message></Error>.
std::string ErrorText(const remote::HttpResponse& r) {
  auto code = XmlValues(r.body, "Code");
  auto message = XmlValues(r.body, "Message");
  std::string out = "HTTP " + std::to_string(r.status);
  if (!code.empty()) out += " " + code[0];
  if (!message.empty() && !message[0].empty()) out += ": " + message[0];
  return out;
}

Status Failed(const std::string& what, const remote::HttpResponse& r) {
  std::string text = "S3 " + what + ": " + ErrorText(r);
  if (r.status == 404) return NotFound(text);
  // The store refusing the server is the server's problem, not the client's.
  if (r.status == 403 || r.status == 401) return Internal(text + " (check the S3 credentials)");
  if (r.status >= 500) return Status(Code::kUnavailable, text);
  return Internal(text);
}

bool Ok(const remote::HttpResponse& r) { return r.status >= 200 && r.status < 300; }

std::string DecodeEntities(std::string_view s) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool decoded = false;
    if (s[i] == '&') {
      for (auto [entity, c] : kEntities) {
        if (s.substr(i, entity.size()) == entity) {
          out += c;
          i += entity.size();
          decoded = true;
          break;
        }
      }
    }
    if (!decoded) out += s[i++];
  }
  return out;
}

}  // namespace

std::string S3Escape(std::string_view s, bool keep_slash) {
  return PercentEncode(s, keep_slash ? "/" : "");
}

std::vector<std::string> XmlValues(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t at = 0;
  while ((at = xml.find(open, at)) != std::string_view::npos) {
    size_t begin = at + open.size();
    size_t end = xml.find(close, begin);
    if (end == std::string_view::npos) break;
    out.push_back(DecodeEntities(xml.substr(begin, end - begin)));
    at = end + close.size();
  }
  return out;
}

int64_t ParseIso8601(const std::string& s) {
  std::tm tm{};
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return 0;
  return static_cast<int64_t>(::timegm(&tm));
}

remote::HttpRequest S3Client::Signed(const std::string& method, const std::string& key,
                                     const std::string& query,
                                     std::vector<std::string> headers) const {
  remote::HttpRequest req;
  req.method = method;
  std::string path = "/" + S3Escape(c_.bucket, false) + "/" + S3Escape(key, true);
  req.url = c_.endpoint + path + (query.empty() ? "" : "?" + query);
  SigV4Key signer{c_.access_key, c_.secret_key, c_.region};
  for (auto& h : SignV4(signer, method, HostOf(c_.endpoint), path, query, headers, ::time(nullptr)))
    headers.push_back(std::move(h));
  req.headers = std::move(headers);
  req.timeout_seconds = c_.timeout_seconds;
  return req;
}

Result<remote::HttpResponse> S3Client::Send(const std::string& method, const std::string& key,
                                            const std::string& query, std::string_view body,
                                            std::vector<std::string> headers) {
  remote::HttpRequest req = Signed(method, key, query, std::move(headers));
  if (method == "PUT" || method == "POST") req.body = body;
  req.body_limit = std::max<size_t>(req.body_limit, c_.part_size + (1 << 20));
  return remote::SendHttp(req);
}

Status S3Client::CheckBucket() {
  DD_ASSIGN_OR_RETURN(r, Send("HEAD", "", ""));
  if (r.status == 404)
    return NotFound("S3 bucket '" + c_.bucket + "' does not exist at " + c_.endpoint);
  if (!Ok(r)) return Failed("HEAD bucket " + c_.bucket + " at " + c_.endpoint, r);
  return Status::Ok();
}

Status S3Client::CreateBucket() {
  DD_ASSIGN_OR_RETURN(r, Send("PUT", "", ""));
  if (!Ok(r)) return Failed("create bucket " + c_.bucket, r);
  return Status::Ok();
}

Result<std::optional<S3Object>> S3Client::Head(const std::string& key) {
  DD_ASSIGN_OR_RETURN(r, Send("HEAD", key, ""));
  if (r.status == 404) return std::optional<S3Object>();
  if (!Ok(r)) return Failed("HEAD " + key, r);
  S3Object o{key, std::strtoull(r.Header("content-length").c_str(), nullptr, 10),
             static_cast<int64_t>(curl_getdate(r.Header("last-modified").c_str(), nullptr))};
  return std::optional<S3Object>(o);
}

Result<std::string> S3Client::GetRange(const std::string& key, uint64_t offset, uint64_t length) {
  if (length == 0) return std::string();
  DD_ASSIGN_OR_RETURN(r, Send("GET", key, "", {},
                              {"Range: bytes=" + std::to_string(offset) + "-" +
                               std::to_string(offset + length - 1)}));
  if (r.status == 416) return std::string();  // at or past the end
  if (!Ok(r)) return Failed("GET " + key, r);
  // A server that ignores Range answers 200 with everything.
  if (r.status == 200 && offset > 0)
    return r.body.substr(std::min<size_t>(offset, r.body.size()), length);
  if (r.body.size() > length) r.body.resize(length);
  return std::move(r.body);
}

Status S3Client::GetStream(const std::string& key, uint64_t offset, uint64_t length,
                           const std::function<bool(const char*, size_t)>& sink) {
  if (length == 0) return Status::Ok();
  remote::HttpRequest req = Signed(
      "GET", key, "",
      {"Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)});
  uint64_t left = length;
  bool receiver_gone = false;
  req.sink = [&](const char* data, size_t n) {
    n = std::min<uint64_t>(n, left);  // a server ignoring Range sends the rest too
    if (n > 0 && !sink(data, n)) receiver_gone = true;
    left -= n;
    return !receiver_gone && left > 0;
  };
  // Only a whole object may come back as a 200 (a server ignoring Range).
  req.expect_status = offset > 0 ? 206 : 0;
  // As long as the receiver takes, but not stalled.
  req.timeout_seconds = 0;
  req.idle_seconds = 60;
  auto r = remote::SendHttp(req);
  if (left == 0) return Status::Ok();  // ended by the sink once all had arrived
  if (receiver_gone) return Status(Code::kUnavailable, "the receiver stopped the copy");
  if (!r.ok()) return Status(r.status().code(), "S3 GET " + key + ": " + r.status().message());
  if (!Ok(*r)) return Failed("GET " + key, *r);
  return Internal("S3 GET " + key + " ended " + std::to_string(left) + " bytes early");
}

Status S3Client::Put(const std::string& key, std::string_view bytes) {
  DD_ASSIGN_OR_RETURN(r, Send("PUT", key, "", bytes));
  if (!Ok(r)) return Failed("PUT " + key, r);
  return Status::Ok();
}

Status S3Client::Delete(const std::string& key) {
  DD_ASSIGN_OR_RETURN(r, Send("DELETE", key, ""));
  if (!Ok(r) && r.status != 404) return Failed("DELETE " + key, r);
  return Status::Ok();
}

Status S3Client::Copy(const std::string& from, const std::string& to) {
  DD_ASSIGN_OR_RETURN(
      r, Send("PUT", to, "", {},
              {"x-amz-copy-source: /" + S3Escape(c_.bucket, false) + "/" + S3Escape(from, true)}));
  // A copy can fail after its 200 has been sent: the error is in the body.
  if (!Ok(r) || r.body.find("<Error>") != std::string::npos)
    return Failed("copy " + from + " to " + to, r);
  return Status::Ok();
}

Status S3Client::List(const std::string& prefix, const std::function<void(const S3Object&)>& fn) {
  std::string token;
  while (true) {
    // Canonical order: parameters sorted by name, values escaped.
    std::string query =
        (token.empty() ? "" : "continuation-token=" + S3Escape(token, false) + "&") +
        "list-type=2&prefix=" + S3Escape(prefix, false);
    DD_ASSIGN_OR_RETURN(r, Send("GET", "", query));
    if (!Ok(r)) return Failed("list " + prefix, r);
    for (const auto& item : XmlValues(r.body, "Contents")) {
      auto key = XmlValues(item, "Key");
      auto size = XmlValues(item, "Size");
      auto modified = XmlValues(item, "LastModified");
      if (key.empty()) continue;
      fn(S3Object{key[0], size.empty() ? 0 : std::strtoull(size[0].c_str(), nullptr, 10),
                  modified.empty() ? 0 : ParseIso8601(modified[0])});
    }
    auto truncated = XmlValues(r.body, "IsTruncated");
    auto next = XmlValues(r.body, "NextContinuationToken");
    if (truncated.empty() || truncated[0] != "true" || next.empty()) return Status::Ok();
    token = next[0];
  }
}

Result<std::string> S3Client::CreateMultipart(const std::string& key) {
  DD_ASSIGN_OR_RETURN(r, Send("POST", key, "uploads="));
  if (!Ok(r)) return Failed("start multipart upload " + key, r);
  auto id = XmlValues(r.body, "UploadId");
  if (id.empty() || id[0].empty())
    return Internal("S3 start multipart upload " + key + ": no UploadId");
  return id[0];
}

Result<std::string> S3Client::UploadPart(const std::string& key, const std::string& upload_id,
                                         int number, std::string_view bytes) {
  DD_ASSIGN_OR_RETURN(
      r, Send("PUT", key,
              "partNumber=" + std::to_string(number) + "&uploadId=" + S3Escape(upload_id, false),
              bytes));
  if (!Ok(r)) return Failed("upload part " + std::to_string(number) + " of " + key, r);
  std::string etag = r.Header("etag");
  if (etag.empty()) return Internal("S3 upload part of " + key + ": no ETag");
  return etag;
}

Result<std::string> S3Client::UploadPartCopy(const std::string& key, const std::string& upload_id,
                                             int number, const std::string& from, uint64_t first,
                                             uint64_t last) {
  DD_ASSIGN_OR_RETURN(
      r,
      Send("PUT", key,
           "partNumber=" + std::to_string(number) + "&uploadId=" + S3Escape(upload_id, false), {},
           {"x-amz-copy-source: /" + S3Escape(c_.bucket, false) + "/" + S3Escape(from, true),
            "x-amz-copy-source-range: bytes=" + std::to_string(first) + "-" +
                std::to_string(last)}));
  auto etag = XmlValues(r.body, "ETag");
  if (!Ok(r) || etag.empty())
    return Failed("copy part " + std::to_string(number) + " of " + from + " to " + key, r);
  return etag[0];
}

Status S3Client::CompleteMultipart(const std::string& key, const std::string& upload_id,
                                   const std::vector<S3Part>& parts) {
  std::string xml = "<CompleteMultipartUpload>";
  for (const auto& p : parts) {
    xml += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>" + p.etag +
           "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  DD_ASSIGN_OR_RETURN(r, Send("POST", key, "uploadId=" + S3Escape(upload_id, false), xml,
                              {"Content-Type: application/xml"}));
  // As with a copy, an error may come after the 200.
  if (!Ok(r) || r.body.find("<Error>") != std::string::npos)
    return Failed("complete multipart upload " + key, r);
  return Status::Ok();
}

Status S3Client::AbortMultipart(const std::string& key, const std::string& upload_id) {
  DD_ASSIGN_OR_RETURN(r, Send("DELETE", key, "uploadId=" + S3Escape(upload_id, false)));
  if (!Ok(r) && r.status != 404) return Failed("abort multipart upload " + key, r);
  return Status::Ok();
}

}  // namespace drydock::storage::internal
