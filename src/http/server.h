// A small HTTP/1.1 server over Boost.Beast. Request heads (and TLS
// handshakes) are read asynchronously on one I/O thread under a timeout, so
// idle or slow clients cost a socket but no thread; each complete head goes
// to a bounded pool of worker threads that run the blocking handler. Request
// and response bodies are both streamed, so a multi-gigabyte blob never sits
// in memory. TLS when given a cert and key.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace drydock::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Reads up to n bytes; 0 at the end of the body. An error means the
  // client went away or sent a malformed body: the request is lost.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
};

struct Request {
  std::string method;
  std::string target;  // as sent
  std::string path;    // percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;
  HeaderList headers;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  std::string remote_addr;
  bool tls = false;
  BodyReader* body = nullptr;
  // X-Request-Id: the client's when it sent a usable one (1 to 64 letters,
  // digits, '.', '_', '-'), else made here; the response, the access log
  // and the server's log lines while it is handled carry it.
  std::string id;

  std::optional<std::string> Query(std::string_view key) const;
  std::vector<std::string> QueryAll(std::string_view key) const;
  // Case-insensitive; "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // The whole body, refusing more than `limit` bytes with kTooLarge.
  Result<std::string> ReadAll(size_t limit);
};

// Takes bytes for the client; false when the client is gone.
using ByteSink = std::function<bool(const char* data, size_t n)>;

// A streamed response body: `length` bytes starting at `offset`, sent with
// sendfile(2) from `fd` when it is a plain socket, otherwise pushed by
// `copy` into the sink as they arrive from wherever they live.
struct BodySource {
  uint64_t offset = 0;
  uint64_t length = 0;
  std::function<Status(uint64_t offset, uint64_t length, const ByteSink& sink)> copy;
  int fd = -1;
  std::shared_ptr<void> owner;  // keeps whatever `copy`/`fd` use alive
};

// A response body of unknown length (a log being followed), sent with
// Transfer-Encoding: chunked, each piece flushed as its own chunk so the
// client sees it at once. Fills `buf` with up to `n` bytes and returns how
// many; 0 ends the body, an error aborts the connection. It may block, but
// should return kStreamIdle at least every second or so while nothing is
// ready, so the server can notice a client that went away or a shutdown.
using BodyStream = std::function<Result<size_t>(char* buf, size_t n)>;
inline constexpr size_t kStreamIdle = static_cast<size_t>(-1);

struct Response {
  int status = 200;
  HeaderList headers;
  std::string body;
  std::optional<BodySource> source;
  BodyStream stream;       // when set, wins over `body` and `source`
  bool head_only = false;  // HEAD: headers (with Content-Length) but no body
  std::string route;       // label for metrics and the access log
  std::string run;         // the run the request was about, for the access log; "" none

  void Set(std::string name, std::string value);
};

// What the server reports about each finished request.
struct Completion {
  const Request& request;
  const Response& response;
  uint64_t bytes_in;
  uint64_t bytes_out;
  double seconds;
};

using Handler = std::function<void(Request&, Response&)>;
using CompletionHook = std::function<void(const Completion&)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 5000;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Open connections, in all and from one client address; more are closed
  // as soon as they are accepted.
  size_t max_connections = 4096;
  size_t max_connections_per_client = 256;
  // Handlers running at once; further complete requests wait their turn.
  size_t max_workers = 512;
  // How long a request head (and a TLS handshake) may take to arrive,
  // including the wait for the next request on a kept-alive connection.
  std::chrono::milliseconds header_timeout{10'000};
  // A body read or response write that makes no progress for this long
  // ends the request and its connection.
  std::chrono::milliseconds body_idle_timeout{60'000};
  size_t max_target_bytes = 8 * 1024;   // 414 above
  size_t max_header_bytes = 64 * 1024;  // request line and headers; 431 above
};

class Server {
 public:
  Server(ServerOptions options, Handler handler, CompletionHook on_complete);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; after this port() is the real port (useful with 0).
  Status Listen();
  uint16_t port() const;
  // Connections open now (for metrics).
  size_t open_connections() const;
  // Accepts until Stop(); blocks.
  void Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string PercentDecode(std::string_view s);
std::string PercentEncode(std::string_view s);

}  // namespace drydock::http
