#include "remote/http_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "base/strings.h"

namespace drydock::remote {
namespace {

struct Transfer {
  CURL* curl;
  const HttpRequest* req;
  HttpResponse* resp;
  uint64_t sent = 0;
  bool aborted = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0)
    t->resp->headers.clear();  // a new response (after 100 or redirect)
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = AsciiLower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    auto b = value.find_first_not_of(" \t");
    auto e = value.find_last_not_of(" \t\r\n");
    t->resp->headers[name] = b == std::string::npos ? "" : value.substr(b, e - b + 1);
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  // Only a successful body goes to the sink; an error body is kept for the message.
  if (t->req->sink && status >= 200 && status < 300) {
    if (t->req->expect_status && status != t->req->expect_status) {
      t->aborted = true;
      return 0;
    }
    if (!t->req->sink(data, len)) {
      t->aborted = true;
      return 0;
    }
    return len;
  }
  if (t->resp->body.size() + len > t->req->body_limit) {
    t->aborted = true;
    return 0;
  }
  if (t->resp->body.empty()) {  // one allocation for a body of known size
    uint64_t announced = std::strtoull(t->resp->Header("content-length").c_str(), nullptr, 10);
    t->resp->body.reserve(std::min<uint64_t>(announced, t->req->body_limit));
  }
  t->resp->body.append(data, len);
  return len;
}

uint64_t BodySize(const HttpRequest& req) { return req.body ? req.body->size() : req.body_size; }

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t want = std::min<uint64_t>(size * n, BodySize(*t->req) - t->sent);
  if (want == 0) return 0;
  if (t->req->body) {
    std::copy_n(t->req->body->data() + t->sent, want, buf);
  } else {
    ssize_t r = ::pread(t->req->body_fd, buf, want, static_cast<off_t>(t->sent));
    if (r <= 0) return CURL_READFUNC_ABORT;
    want = static_cast<size_t>(r);
  }
  t->sent += want;
  return want;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

Result<HttpResponse> SendHttp(const HttpRequest& req) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  HttpResponse resp;
  Transfer t{curl.get(), &req, &resp};
  curl_slist* list = nullptr;
  for (const auto& h : req.headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, ListDeleter> headers(list);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "drydock");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, req.timeout_seconds);
  if (req.idle_seconds > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req.idle_seconds);
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  // A streamed body goes on in pieces as large as a socket read can give
  // (curl's default is 16 KiB: four times the writes to pass it on).
  if (req.sink) curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
  // Redirects (blob storage behind a registry) are followed, but without
  // re-sending our Authorization header to another host.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT" || req.method == "POST" || req.method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(BodySize(req)));
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (t.aborted) {
    if (req.sink && req.expect_status && resp.status != req.expect_status)
      return Status(Code::kInvalid, req.method + " " + req.url + " answered " +
                                        std::to_string(resp.status) + ", not " +
                                        std::to_string(req.expect_status));
    return Status(Code::kInvalid,
                  req.sink ? "response body rejected"
                           : "response body exceeds " + std::to_string(req.body_limit) + " bytes");
  }
  if (rc != CURLE_OK) {
    return Status(Code::kUnavailable, req.method + " " + req.url + ": " + curl_easy_strerror(rc));
  }
  return resp;
}

std::map<std::string, std::string> ParseChallenge(const std::string& header) {
  std::map<std::string, std::string> out;
  auto space = header.find(' ');
  std::string scheme = AsciiLower(header.substr(0, space));
  out["scheme"] = scheme;
  if (space == std::string::npos) return out;
  size_t i = space + 1;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    auto eq = header.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = header.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      auto end = header.find('"', i + 1);
      value = header.substr(i + 1, end == std::string::npos ? std::string::npos : end - i - 1);
      i = end == std::string::npos ? header.size() : end + 1;
    } else {
      auto end = header.find(',', i);
      value = header.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? header.size() : end;
    }
    out[key] = value;
  }
  return out;
}

}  // namespace drydock::remote
