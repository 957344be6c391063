#include "http/server.h"

#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "base/log_context.h"
#include "base/random.h"
#include "base/strings.h"

namespace drydock::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

// The client's request id when it is one a log can hold as it is, else a
// new one.
std::string RequestId(const std::string& sent) {
  bool usable = !sent.empty() && sent.size() <= 64;
  for (char c : sent)
    usable =
        usable && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  return usable ? sent : RandomHex(8);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && s[i] == '+') ? ' ' : s[i];
  }
  return out;
}

void ParseTarget(Request& req) {
  std::string_view t = req.target;
  auto q = t.find('?');
  req.path = Decode(t.substr(0, q), false);
  if (q == std::string_view::npos) return;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    if (!part.empty()) {
      req.query.emplace_back(Decode(part.substr(0, eq), true),
                             eq == std::string_view::npos ? "" : Decode(part.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
}

}  // namespace

std::string PercentDecode(std::string_view s) { return Decode(s, false); }

std::string PercentEncode(std::string_view s) { return drydock::PercentEncode(s, "/:"); }

std::optional<std::string> Request::Query(std::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Request::QueryAll(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query) {
    if (k == key) out.push_back(v);
  }
  return out;
}

std::string Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

bool Request::HasHeader(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

Result<std::string> Request::ReadAll(size_t limit) {
  if (content_length && *content_length > limit) {
    return TooLarge("request body of " + std::to_string(*content_length) +
                    " bytes exceeds the limit of " + std::to_string(limit));
  }
  std::string out;
  char buf[64 * 1024];
  while (true) {
    auto n = body->Read(buf, sizeof buf);
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    if (out.size() + *n > limit) {
      return TooLarge("request body exceeds the limit of " + std::to_string(limit) + " bytes");
    }
    out.append(buf, *n);
  }
}

void Response::Set(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

namespace {

using Clock = std::chrono::steady_clock;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

// How much of a body the handler left unread is read and discarded to keep
// the connection, or to let the client see the response before it closes.
constexpr uint64_t kMaxDrainBytes = 1 << 20;
// How long a closing connection waits for the client to finish sending.
constexpr std::chrono::milliseconds kLinger{2000};
// How long the rest of a body the handler left unread may pause before the
// response goes out anyway, closing the connection.
constexpr std::chrono::milliseconds kDrainPatience{1000};

// Runs blocking handlers on at most `max` threads, started as requests need
// them and kept, idle, until the pool goes away.
class WorkerPool {
 public:
  explicit WorkerPool(size_t max) : max_(std::max<size_t>(max, 1)) {}
  ~WorkerPool() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`; false only when there is no thread to run it and none to be had.
  bool Post(std::function<void()> job) {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(job));
    if (queue_.size() > idle_ && threads_.size() < max_) {
      try {
        threads_.emplace_back([this] { Loop(); });
      } catch (const std::system_error&) {
        if (threads_.empty()) {
          queue_.pop_back();
          return false;
        }
      }
    }
    ready_.notify_one();
    return true;
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (true) {
      ++idle_;
      ready_.wait(lock, [&] { return done_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) return;  // done, and nothing left to run
      std::function<void()> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      job();
      job = nullptr;  // whatever it holds goes now, not under the lock
      lock.lock();
    }
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool done_ = false;
};

// What Stop needs of a connection, whatever its stream.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Ends the connection soon; callable from any thread.
  virtual void Shutdown() = 0;
};

// The open connections: the caps on them, and how Stop reaches each one.
class ConnectionTable {
 public:
  ConnectionTable(size_t max_total, size_t max_per_client)
      : max_total_(max_total), max_per_client_(max_per_client) {}

  // Counts `c`, from `client`, unless the server or that client is at its cap.
  bool Add(const std::shared_ptr<ConnectionBase>& c, const std::string& client) {
    std::lock_guard lock(mu_);
    size_t& mine = per_client_[client];
    if (live_.size() >= max_total_ || mine >= max_per_client_) {
      if (mine == 0) per_client_.erase(client);
      return false;
    }
    ++mine;
    live_.emplace(c.get(), c);
    return true;
  }

  // From the connection's destructor; nothing for one never added.
  void Remove(const ConnectionBase* c, const std::string& client) {
    std::lock_guard lock(mu_);
    if (live_.erase(c) == 0) return;
    auto it = per_client_.find(client);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  }

  size_t Size() {
    std::lock_guard lock(mu_);
    return live_.size();
  }

  std::vector<std::shared_ptr<ConnectionBase>> Snapshot() {
    std::vector<std::shared_ptr<ConnectionBase>> out;
    std::lock_guard lock(mu_);
    for (const auto& [ptr, weak] : live_) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }

 private:
  const size_t max_total_;
  const size_t max_per_client_;
  std::mutex mu_;
  std::unordered_map<const ConnectionBase*, std::weak_ptr<ConnectionBase>> live_;
  std::unordered_map<std::string, size_t> per_client_;
};

// What every connection of one server shares.
struct Shared {
  Shared(ServerOptions o, Handler h, CompletionHook c)
      : opts(std::move(o)),
        handler(std::move(h)),
        on_complete(std::move(c)),
        connections(opts.max_connections, opts.max_connections_per_client),
        workers(opts.max_workers) {}

  const ServerOptions opts;
  const Handler handler;
  const CompletionHook on_complete;
  std::atomic<bool> stopping{false};
  ConnectionTable connections;
  WorkerPool workers;
};

// Marks a blocking socket operation as under way since now, for the
// connection's watchdog: 0 while none is.
class IoWatch {
 public:
  explicit IoWatch(std::atomic<int64_t>& since) : since_(since) {
    since_.store(std::max<int64_t>(Clock::now().time_since_epoch().count(), 1));
  }
  ~IoWatch() { since_.store(0); }
  IoWatch(const IoWatch&) = delete;
  IoWatch& operator=(const IoWatch&) = delete;

 private:
  std::atomic<int64_t>& since_;
};

// The synchronous side of a connection's stream, as the worker uses it:
// every read and write is watched, so one that stalls can be ended.
template <class Stream>
class WatchedStream {
 public:
  using executor_type = typename Stream::executor_type;

  WatchedStream(Stream& s, std::atomic<int64_t>& since) : s_(s), since_(since) {}
  executor_type get_executor() { return s_.get_executor(); }

  template <class Buffers>
  size_t read_some(const Buffers& b, beast::error_code& ec) {
    IoWatch watch(since_);
    return s_.read_some(b, ec);
  }
  template <class Buffers>
  size_t read_some(const Buffers& b) {
    beast::error_code ec;
    size_t n = read_some(b, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }
  template <class Buffers>
  size_t write_some(const Buffers& b, beast::error_code& ec) {
    IoWatch watch(since_);
    return s_.write_some(b, ec);
  }
  template <class Buffers>
  size_t write_some(const Buffers& b) {
    beast::error_code ec;
    size_t n = write_some(b, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  Stream& s_;
  std::atomic<int64_t>& since_;
};

// Streams the request body out of Beast's parser on demand.
template <class Stream>
class ParserBody final : public BodyReader {
 public:
  ParserBody(Stream& s, beast::flat_buffer& buf, RequestParser& p, bool expect)
      : stream_(s), buf_(buf), parser_(p), expect_continue_(expect) {}

  // Fills `out` (the handler's large reads cost fewer calls that way).
  Result<size_t> Read(char* out, size_t n) override { return Fill(out, n, false); }
  // Returns what one read from the client brings.
  Result<size_t> ReadSome(char* out, size_t n) { return Fill(out, n, true); }

  bool failed() const { return failed_; }
  bool continue_pending() const { return expect_continue_; }
  uint64_t bytes() const { return bytes_; }

 private:
  Result<size_t> Fill(char* out, size_t n, bool some) {
    if (failed_) return Status(Code::kUnavailable, "request body was cut short");
    if (n == 0) return size_t{0};
    while (!parser_.is_done()) {
      if (expect_continue_) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        beast::error_code ec;
        net::write(stream_, net::buffer(kContinue.data(), kContinue.size()), ec);
        expect_continue_ = false;
        if (ec) return Fail(ec);
      }
      auto& b = parser_.get().body();
      b.data = out;
      b.size = n;
      beast::error_code ec;
      if (some) {
        bhttp::read_some(stream_, buf_, parser_, ec);
      } else {
        bhttp::read(stream_, buf_, parser_, ec);
      }
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) return Fail(ec);
      size_t got = n - b.size;
      if (got > 0) {
        bytes_ += got;
        return got;
      }
    }
    return size_t{0};
  }

  Result<size_t> Fail(const beast::error_code& ec) {
    failed_ = true;
    return Status(Code::kUnavailable, "request body was cut short: " + ec.message());
  }
  Stream& stream_;
  beast::flat_buffer& buf_;
  RequestParser& parser_;
  bool expect_continue_;
  bool failed_ = false;
  uint64_t bytes_ = 0;
};

// Sends `len` bytes of `fd` from `off` straight from the page cache, giving
// up when the client takes nothing for `idle_ms`.
bool SendFile(int sock, int fd, uint64_t off, uint64_t len, int idle_ms, uint64_t& sent) {
  auto o = static_cast<off_t>(off);
  while (len > 0) {
    ssize_t n = ::sendfile(sock, fd, &o, std::min<uint64_t>(len, 1 << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{sock, POLLOUT, 0};
        if (::poll(&p, 1, idle_ms) == 0) return false;
        continue;
      }
      return false;
    }
    if (n == 0) return false;
    len -= static_cast<uint64_t>(n);
    sent += static_cast<uint64_t>(n);
  }
  return true;
}

// True when `fd` has something to read (or has been closed) within `wait`.
bool Readable(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
}

// True when the client has closed or reset the connection: a log follower
// that went away must not keep its thread until the run ends.
bool PeerGone(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// A head Beast could not parse, as opposed to one that never fully arrived.
bool IsMalformed(const beast::error_code& ec) {
  return ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// The request target's length in a raw head that Beast refused as too large:
// the rest of the request line after the method when the line has no end yet.
size_t TargetLength(std::string_view head) {
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  auto start = line.find(' ');
  if (start == std::string_view::npos) return 0;
  auto end = eol == std::string_view::npos ? line.size() : line.rfind(' ');
  return end > start ? end - start - 1 : 0;
}

// A body in the registry's error format, which clients of both the registry
// and the REST API can show.
std::string ErrorBody(std::string_view code, std::string_view message) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  return nlohmann::json{{"errors", nlohmann::json::array({e})}}.dump();
}

std::string_view ErrorCode(int status) {
  switch (status) {
    case 400:
      return "BAD_REQUEST";
    case 414:
      return "URI_TOO_LONG";
    case 431:
      return "HEADERS_TOO_LARGE";
    case 503:
      return "UNAVAILABLE";
    default:
      return "UNKNOWN";
  }
}

// One client connection. Its strand (the stream's executor) reads request
// heads asynchronously under header_timeout; a complete head goes to a worker
// thread, which runs the handler with blocking reads and writes while a
// watchdog on the strand ends any that stalls for body_idle_timeout. The
// worker then hands the connection back for the next head.
template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Connection(Shared& server, tcp::socket socket, std::string client, ssl::context* tls)
      : server_(server),
        fd_(socket.native_handle()),
        stream_(MakeStream(std::move(socket), tls)),
        client_(std::move(client)),
        watchdog_(stream_.get_executor()) {}
  ~Connection() override { server_.connections.Remove(this, client_); }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  void Shutdown() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Interrupt(); });
  }

 private:
  // What becomes of the connection after a request.
  enum class After { kNextRequest, kClose, kAbort };

  // A request for a worker. The I/O loop must outlive it, since the worker
  // hands the connection back and may release it last: members go in reverse
  // order, so `work` lets the loop finish only after `self` is gone.
  struct Job {
    net::executor_work_guard<typename Stream::executor_type> work;
    std::shared_ptr<Connection> self;
    void operator()() const { self->Serve(); }
  };

  static Stream MakeStream(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  const ServerOptions& opts() const { return server_.opts; }
  beast::tcp_stream& Socket() { return beast::get_lowest_layer(stream_); }

  void Begin() {
    if (server_.stopping) return Close();
    if constexpr (kTls) {
      Socket().expires_after(opts().header_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->ReadHeader();
                              });
    } else {
      ReadHeader();
    }
  }

  void ReadHeader() {
    if (server_.stopping) return Close();
    // A waiting connection keeps only what it holds of the next request.
    buf_.shrink_to_fit();
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->header_limit(
        static_cast<uint32_t>(std::min<size_t>(opts().max_header_bytes, UINT32_MAX)));
    Socket().expires_after(opts().header_timeout);
    bhttp::async_read_header(
        stream_, buf_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) return RefuseOversizedHead();
    if (ec == bhttp::error::bad_content_length) {
      return Refuse(400,
                    "invalid Content-Length: it must be a single decimal number below 2^64, "
                    "without Transfer-Encoding: chunked");
    }
    if (IsMalformed(ec)) return Refuse(400, "malformed request: " + ec.message());
    if (ec) return Close();  // a timeout, or the client went away
    if (parser_->get().target().size() > opts().max_target_bytes) return RefuseLongTarget();
    HandOff();
  }

  // Beast has one limit for the whole head: it is the URL's fault when the
  // request line alone holds a target over its own limit.
  void RefuseOversizedHead() {
    auto data = buf_.cdata();
    std::string_view head(static_cast<const char*>(data.data()), data.size());
    if (TargetLength(head) > opts().max_target_bytes) return RefuseLongTarget();
    Refuse(431, "request line and headers exceed the limit of " +
                    std::to_string(opts().max_header_bytes) + " bytes");
  }

  void RefuseLongTarget() {
    Refuse(414, "request target (URL) exceeds the limit of " +
                    std::to_string(opts().max_target_bytes) + " bytes");
  }

  // Answers a request that never reaches the handler, then closes.
  void Refuse(int status, const std::string& message) {
    reply_ = {};
    reply_.version(11);
    reply_.result(static_cast<unsigned>(status));
    reply_.set(bhttp::field::content_type, "application/json");
    reply_.keep_alive(false);
    reply_.body() = ErrorBody(ErrorCode(status), message);
    reply_.prepare_payload();
    Report(status, reply_.body().size());
    Socket().expires_after(opts().header_timeout);
    bhttp::async_write(stream_, reply_,
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         self->Finish();
                       });
  }

  // Tells the access log and metrics about a refused request.
  void Report(int status, uint64_t bytes_out) {
    if (!server_.on_complete) return;
    Request req;
    if (parser_ && parser_->is_header_done())
      req.method = std::string(parser_->get().method_string());
    req.remote_addr = client_;
    req.tls = kTls;
    Response resp;
    resp.status = status;
    resp.route = "refused";
    server_.on_complete(Completion{req, resp, 0, bytes_out, 0.0});
  }

  void HandOff() {
    in_worker_ = true;
    ArmWatchdog(opts().body_idle_timeout);
    // Beast sizes each socket read by the buffer's free capacity; without room
    // to spare, request bodies arrive 512 bytes per recv (measured: half the
    // server CPU of a large upload went there).
    buf_.reserve(64 * 1024);
    if (!server_.workers.Post(
            Job{net::make_work_guard(stream_.get_executor()), this->shared_from_this()})) {
      in_worker_ = false;
      watchdog_.cancel();
      Refuse(503, "the server has no thread to serve this request");
    }
  }

  // The watchdog, on the strand: shuts down the socket under a worker whose
  // read or write has made no progress for body_idle_timeout, which fails it.
  void ArmWatchdog(Clock::duration after) {
    watchdog_.expires_after(after);
    watchdog_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->CheckProgress();
    });
  }

  void CheckProgress() {
    if (!in_worker_) return;
    Clock::duration idle = opts().body_idle_timeout;
    int64_t since = io_since_.load();
    if (since == 0) return ArmWatchdog(idle);  // the handler is busy, not blocked on the client
    auto stalled = Clock::now() - Clock::time_point(Clock::duration(since));
    if (stalled < idle) return ArmWatchdog(idle - stalled);
    ::shutdown(fd_, SHUT_RDWR);
  }

  // Stop(): wakes a worker blocked on the socket, or ends any async wait.
  void Interrupt() {
    if (in_worker_) {
      ::shutdown(fd_, SHUT_RDWR);
    } else {
      Close();
    }
  }

  // On a worker thread.
  void Serve() {
    After next = After::kAbort;
    if (!server_.stopping) {
      try {
        WatchedStream<Stream> io(stream_, io_since_);
        next = ServeOne(io);
      } catch (const std::exception&) {
        // A connection's failure never takes the server down.
      }
    }
    net::post(stream_.get_executor(),
              [self = this->shared_from_this(), next] { self->Served(next); });
  }

  void Served(After next) {
    in_worker_ = false;
    watchdog_.cancel();
    switch (next) {
      case After::kNextRequest:
        return ReadHeader();
      case After::kClose:
        return Finish();
      case After::kAbort:
        return Close();
    }
  }

  // Closes after a response. TLS says goodbye; plain TCP stops sending and
  // reads what the client still sends for a moment, so that closing with its
  // unread upload does not reset the connection before it sees the response.
  void Finish() {
    Socket().expires_after(std::min<Clock::duration>(opts().header_timeout, kLinger));
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Close(); });
    } else {
      beast::error_code ec;
      Socket().socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return Close();
      Drain(0);
    }
  }

  void Drain(uint64_t drained) {
    buf_.clear();
    Socket().async_read_some(buf_.prepare(64 * 1024), [self = this->shared_from_this(), drained](
                                                          beast::error_code ec, size_t n) {
      if (ec || drained + n > kMaxDrainBytes) return self->Close();
      self->Drain(drained + n);
    });
  }

  void Close() {
    watchdog_.cancel();
    Socket().close();
  }

  Request ParseRequest() {
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    ParseTarget(req);
    for (const auto& f : msg) {
      req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    // Read from the header rather than parser.content_length(): GCC 12 warns
    // (maybe-uninitialized) inside boost::optional under the sanitizers. The
    // parser has already checked that it is one number that fits.
    if (auto it = msg.find(bhttp::field::content_length); it != msg.end() && !parser_->chunked()) {
      req.content_length = std::strtoull(std::string(it->value()).c_str(), nullptr, 10);
    }
    req.chunked = parser_->chunked();
    req.remote_addr = client_;
    req.tls = kTls;
    return req;
  }

  // Runs the handler on the request whose head has arrived; on a worker.
  After ServeOne(WatchedStream<Stream>& io) {
    auto started = Clock::now();
    Request req = ParseRequest();
    req.id = RequestId(req.Header("X-Request-Id"));
    ScopedLogContext log_context("request=" + req.id);
    bool expect = EqualsIgnoreCase(req.Header("Expect"), "100-continue");
    ParserBody<WatchedStream<Stream>> body(io, buf_, *parser_, expect && !parser_->is_done());
    req.body = &body;

    Response resp;
    try {
      server_.handler(req, resp);
    } catch (const std::exception& e) {
      resp = Response{};
      resp.status = 500;
      resp.body = ErrorBody("UNKNOWN", std::string("internal error: ") + e.what());
      resp.Set("Content-Type", "application/json");
    }
    // A HEAD response never has a body, whichever handler (or error) built it;
    // stray bytes would be read as the next response on a kept-alive connection.
    if (req.method == "HEAD") resp.head_only = true;
    resp.Set("X-Request-Id", req.id);
    bool keep = parser_->get().keep_alive() && !server_.stopping && DrainBody(body);
    uint64_t out = 0;
    bool wrote = Write(io, resp, keep, out);
    if (server_.on_complete) {
      double secs = std::chrono::duration<double>(Clock::now() - started).count();
      server_.on_complete(Completion{req, resp, body.bytes(), out, secs});
    }
    if (!wrote) return After::kAbort;
    return keep ? After::kNextRequest : After::kClose;
  }

  // Reads what the handler left of a small body so the connection stays
  // usable; false when it cannot be: large, cut short, never asked for, or
  // stalled (the response must not wait on a client that sends no more).
  bool DrainBody(ParserBody<WatchedStream<Stream>>& body) {
    if (parser_->is_done()) return true;
    if (body.failed() || body.continue_pending()) return false;
    char sink[16 * 1024];
    uint64_t drained = 0;
    while (!parser_->is_done() && drained < kMaxDrainBytes) {
      if (buf_.size() == 0 && !Readable(fd_, kDrainPatience)) return false;
      auto n = body.ReadSome(sink, sizeof sink);
      if (!n.ok() || *n == 0) break;
      drained += *n;
    }
    return parser_->is_done();
  }

  bool Write(WatchedStream<Stream>& io, const Response& resp, bool keep_alive, uint64_t& out) {
    bhttp::response<bhttp::empty_body> h{static_cast<bhttp::status>(resp.status), 11};
    for (const auto& [k, v] : resp.headers) h.insert(k, v);
    uint64_t length = resp.source ? resp.source->length : resp.body.size();
    bool has_body = !(resp.status == 204 || resp.status == 304 || resp.status < 200);
    if (has_body && resp.stream) {
      h.chunked(true);
    } else if (has_body) {
      h.content_length(length);
    }
    h.keep_alive(keep_alive);
    std::ostringstream head;
    head << h.base();
    std::string header = head.str();
    beast::error_code ec;
    bool send_body = !resp.head_only && resp.status != 204 && resp.status != 304;
    if (resp.stream && send_body) {
      out += net::write(io, net::buffer(header), ec);
      return !ec && WriteChunks(io, resp.stream, out);
    }
    if (!resp.source || !send_body) {
      std::array<net::const_buffer, 2> bufs{
          net::buffer(header), net::buffer(resp.body.data(), send_body ? resp.body.size() : 0)};
      out += net::write(io, bufs, ec);
      return !ec;
    }
    out += net::write(io, net::buffer(header), ec);
    if (ec) return false;
    const BodySource& src = *resp.source;
    if constexpr (!kTls) {
      if (src.fd >= 0) {
        auto idle_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(opts().body_idle_timeout);
        return SendFile(fd_, src.fd, src.offset, src.length,
                        static_cast<int>(std::min<int64_t>(idle_ms.count(), INT32_MAX)), out);
      }
    }
    // A failed copy cuts the connection: the client sees a short body.
    return src
        .copy(src.offset, src.length,
              [&](const char* data, size_t n) {
                out += net::write(io, net::buffer(data, n), ec);
                return !ec;
              })
        .ok();
  }

  bool WriteChunks(WatchedStream<Stream>& io, const BodyStream& next, uint64_t& out) {
    std::vector<char> buf(64 * 1024);
    beast::error_code ec;
    while (true) {
      auto n = next(buf.data(), buf.size());
      if (!n.ok()) return false;  // no way to report it mid-body: cut the connection
      if (*n == kStreamIdle) {
        if (server_.stopping || PeerGone(fd_)) return false;
        continue;
      }
      if (*n == 0) break;
      size_t m = std::min(*n, buf.size());
      char size_line[24];
      int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", m);
      std::array<net::const_buffer, 3> bufs{net::buffer(size_line, static_cast<size_t>(len)),
                                            net::buffer(buf.data(), m), net::buffer("\r\n", 2)};
      out += net::write(io, bufs, ec);
      if (ec) return false;
    }
    out += net::write(io, net::buffer("0\r\n\r\n", 5), ec);
    return !ec;
  }

  Shared& server_;
  const int fd_;  // open for as long as a worker has the connection
  Stream stream_;
  const std::string client_;
  beast::flat_buffer buf_;
  std::optional<RequestParser> parser_;
  net::steady_timer watchdog_;
  bool in_worker_ = false;                     // on the strand only
  std::atomic<int64_t> io_since_{0};           // the worker's socket operation, for the watchdog
  bhttp::response<bhttp::string_body> reply_;  // a refusal being written
};

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, Handler h, CompletionHook c)
      : shared(std::move(o), std::move(h), std::move(c)) {}

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  template <class Stream>
  void Open(tcp::socket socket, std::string client);

  // Declared first, so destroyed last: the workers (in `shared`) go before it.
  net::io_context ioc;
  Shared shared;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{net::make_strand(ioc)};
  net::steady_timer backoff{acceptor.get_executor()};
  uint16_t port = 0;
  // Stop() runs whole under mu, so ~Server cannot free what it is using.
  std::mutex mu;
  std::condition_variable run_done;
  bool running = false;
};

void Server::Impl::Accept() {
  if (shared.stopping) return;
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || shared.stopping) return;
  if (ec) {
    // Most likely out of descriptors (EMFILE): retrying at once would spin.
    backoff.expires_after(std::chrono::milliseconds(50));
    backoff.async_wait([this](beast::error_code e) {
      if (!e) Accept();
    });
    return;
  }
  auto remote = socket.remote_endpoint(ec);
  if (!ec) {
    socket.set_option(tcp::no_delay(true), ec);
    std::string client = remote.address().to_string();
    if (tls) {
      Open<TlsStream>(std::move(socket), std::move(client));
    } else {
      Open<PlainStream>(std::move(socket), std::move(client));
    }
  }
  Accept();
}

// A connection over a cap is closed at once, by `c` going out of scope.
template <class Stream>
void Server::Impl::Open(tcp::socket socket, std::string client) {
  auto c = std::make_shared<Connection<Stream>>(shared, std::move(socket), client,
                                                tls ? &*tls : nullptr);
  if (shared.connections.Add(c, client)) c->Start();
}

Server::Server(ServerOptions options, Handler handler, CompletionHook on_complete)
    : impl_(
          std::make_unique<Impl>(std::move(options), std::move(handler), std::move(on_complete))) {}

Server::~Server() {
  Stop();
  std::unique_lock lock(impl_->mu);
  impl_->run_done.wait(lock, [&] { return !impl_->running; });
}

Status Server::Listen() {
  auto& i = *impl_;
  const ServerOptions& opts = i.shared.opts;
  try {
    if (!opts.tls_cert_file.empty()) {
      i.tls.emplace(ssl::context::tls_server);
      i.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
      i.tls->use_certificate_chain_file(opts.tls_cert_file);
      i.tls->use_private_key_file(opts.tls_key_file, ssl::context::pem);
    }
    tcp::endpoint ep(net::ip::make_address(opts.address), opts.port);
    i.acceptor.open(ep.protocol());
    i.acceptor.set_option(net::socket_base::reuse_address(true));
    i.acceptor.bind(ep);
    i.acceptor.listen(net::socket_base::max_listen_connections);
    i.port = i.acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable,
                  "listen on " + opts.address + ":" + std::to_string(opts.port) + ": " + e.what());
  }
  return Status::Ok();
}

uint16_t Server::port() const { return impl_->port; }

size_t Server::open_connections() const { return impl_->shared.connections.Size(); }

void Server::Run() {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.shared.stopping) return;
    i.running = true;
  }
  net::post(i.acceptor.get_executor(), [&i] { i.Accept(); });
  // Returns once Stop() has closed the acceptor and every connection is gone.
  while (true) {
    try {
      i.ioc.run();
      break;
    } catch (const std::exception&) {
      // A connection's failure never takes the server down.
    }
  }
  std::lock_guard lock(i.mu);
  i.running = false;
  i.run_done.notify_all();
}

void Server::Stop() {
  auto& i = *impl_;
  std::lock_guard lock(i.mu);
  if (i.shared.stopping.exchange(true)) return;
  net::post(i.acceptor.get_executor(), [&i] {
    beast::error_code ec;
    i.acceptor.close(ec);
    i.backoff.cancel();
  });
  for (const auto& c : i.shared.connections.Snapshot()) c->Shutdown();
}

}  // namespace drydock::http
