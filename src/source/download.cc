// DownloadUrl: one libcurl GET per attempt, streamed to the file and hashed
// on the way, with retries for failures a later attempt can fix.
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "base/fd.h"
#include "base/strings.h"
#include "source/internal.h"
#include "source/source.h"

namespace drydock::source {
namespace {

namespace fs = std::filesystem;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

// One attempt's state, seen by the callbacks.
struct Transfer {
  CURL* curl = nullptr;
  int fd = -1;
  const DownloadOptions* options = nullptr;
  oci::Hasher hasher;
  uint64_t size = 0;
  std::string status_line;                     // "HTTP/1.1 404 Not Found"
  std::map<std::string, std::string> headers;  // lower-case names, last response only
  bool too_large = false;
  bool error_page = false;
  int write_errno = 0;
  std::string refused_address;  // a private destination, when those are refused
};

// Checked where curl connects, after every resolution and redirect, so
// neither DNS nor a Location header can lead to a private address.
curl_socket_t OpenPublicSocket(void* user, curlsocktype, curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(user);
  if (IsPrivateAddress(&a->addr)) {
    t->refused_address = AddressText(&a->addr);
    return CURL_SOCKET_BAD;
  }
  return ::socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

long ResponseCode(CURL* c) {
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 or a redirect)
    t->headers.clear();
    t->status_line = line;
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = AsciiLower(line.substr(0, colon));
  auto b = line.find_first_not_of(" \t", colon + 1);
  t->headers[name] = b == std::string::npos ? "" : line.substr(b);
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  long status = ResponseCode(t->curl);
  if (status < 200 || status >= 300) {  // an error page: only its status matters
    t->error_page = true;
    return 0;
  }
  if (t->options->max_bytes && t->size + len > t->options->max_bytes) {
    t->too_large = true;
    return 0;
  }
  for (size_t done = 0; done < len;) {
    ssize_t w = ::pwrite(t->fd, data + done, len - done, static_cast<off_t>(t->size + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      t->write_errno = errno;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->hasher.Update(data, len);
  t->size += len;
  return len;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->options->cancel && t->options->cancel->load() ? 1 : 0;
}

bool Retryable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// filename="x" or filename*=UTF-8''x from a Content-Disposition value.
std::string DispositionFileName(const std::string& value) {
  std::string plain, extended;
  size_t i = 0;
  while (i < value.size()) {
    size_t semi = value.find(';', i);
    std::string part = value.substr(i, semi == std::string::npos ? std::string::npos : semi - i);
    i = semi == std::string::npos ? value.size() : semi + 1;
    auto b = part.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    part = part.substr(b);
    auto eq = part.find('=');
    if (eq == std::string::npos) continue;
    std::string key = AsciiLower(part.substr(0, eq));
    std::string v = part.substr(eq + 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (key == "filename") plain = v;
    if (key == "filename*") {
      auto quote = v.find("''");  // charset''percent-encoded
      extended = PercentDecode(quote == std::string::npos ? v : v.substr(quote + 2));
    }
  }
  return SafeFileName(extended.empty() ? plain : extended);
}

Status StatusError(long status, const std::string& status_line, const std::string& url) {
  std::string what = status_line.empty() ? "HTTP " + std::to_string(status) : status_line;
  if (auto sp = what.find(' '); what.rfind("HTTP/", 0) == 0 && sp != std::string::npos)
    what = "HTTP" + what.substr(sp);  // "HTTP 404 Not Found"
  std::string msg = "GET " + RedactUrl(url) + ": " + what;
  if (status == 404 || status == 410) return NotFound(msg);
  if (status == 401) return Status(Code::kUnauthenticated, msg);
  if (status == 403) return Status(Code::kDenied, msg);
  if (status >= 500 || status == 429) return Status(Code::kUnavailable, msg);
  return Invalid(msg);
}

std::string LimitMessage(const std::string& url, uint64_t max) {
  return "GET " + RedactUrl(url) + ": the response is larger than the limit of " +
         std::to_string(max) + " bytes";
}

struct Attempt {
  Status status;
  bool retry = false;
};

// Every option of one attempt: http(s) only, redirects, timeouts, auth,
// and our callbacks.
void Configure(CURL* c, const std::string& url, const DownloadOptions& o, Transfer* t,
               char* errbuf) {
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "drydock");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  // Credentials go to the URL's host only, never to a redirect's.
  curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
  if (!o.bearer_token.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, o.bearer_token.c_str());
  } else if (o.basic) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, o.basic->username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.basic->password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
  if (!o.allow_private) {
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenPublicSocket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t);
  }
}

// One GET into `fd` (truncated first). Fills `out` on success.
Attempt TryOnce(const std::string& url, int fd, const DownloadOptions& o, Download& out) {
  if (::ftruncate(fd, 0) != 0) return {Internal(std::string("truncate: ") + std::strerror(errno))};
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return {Internal("curl_easy_init failed")};
  CURL* c = curl.get();
  Transfer t;
  t.curl = c;
  t.fd = fd;
  t.options = &o;
  char errbuf[CURL_ERROR_SIZE] = "";
  Configure(c, url, o, &t, errbuf);

  CURLcode rc = curl_easy_perform(c);
  long status = ResponseCode(c);
  std::string what = "GET " + RedactUrl(url) + ": ";
  if (t.error_page || (rc == CURLE_OK && (status < 200 || status >= 300)))
    return {StatusError(status, t.status_line, url), status >= 500 || status == 429};
  if (t.too_large) return {TooLarge(LimitMessage(url, o.max_bytes))};
  if (t.write_errno) return {Internal(what + "writing the file: " + std::strerror(t.write_errno))};
  if (rc == CURLE_ABORTED_BY_CALLBACK) return {Status(Code::kUnavailable, what + "canceled")};
  if (rc != CURLE_OK && !t.refused_address.empty()) {
    char* last = nullptr;  // the URL of the hop that was refused, after redirects
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &last);
    return {Status(Code::kDenied,
                   PrivateDestinationMessage(RedactUrl(last ? last : url), t.refused_address))};
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return {Status(Code::kUnavailable, what + RedactText(detail)), Retryable(rc)};
  }
  out.digest = t.hasher.Peek();
  out.size = t.size;
  curl_off_t filetime = -1;
  if (curl_easy_getinfo(c, CURLINFO_FILETIME_T, &filetime) == CURLE_OK && filetime >= 0)
    out.last_modified = static_cast<std::time_t>(filetime);
  out.filename = DispositionFileName(t.headers["content-disposition"]);
  if (out.filename.empty()) out.filename = UrlFileName(url);
  if (out.filename.empty()) out.filename = "index";
  return {Status::Ok()};
}

}  // namespace

Result<Download> DownloadUrl(const std::string& url, const fs::path& dest_file,
                             const DownloadOptions& options) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    return Invalid("not an http(s) URL: " + RedactUrl(url));
  UniqueFd fd(
      ::open(dest_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid()) return Internal("create " + dest_file.string() + ": " + std::strerror(errno));
  Download out;
  auto backoff = options.backoff;
  for (int attempt = 0;; ++attempt) {
    Attempt a = TryOnce(url, fd.get(), options, out);
    if (a.status.ok()) return out;
    bool canceled = options.cancel && options.cancel->load();
    if (!a.retry || attempt >= options.retries || canceled) {
      fd.Reset();
      std::error_code ec;
      fs::remove(dest_file, ec);
      return a.status;
    }
    if (options.log) {
      options.log(a.status.message() + "; retrying in " + std::to_string(backoff.count()) +
                  " ms\n");
    }
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

}  // namespace drydock::source
