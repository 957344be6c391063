#include "http/server.h"

#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>

#include "base/strings.h"

namespace drydock::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

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

// Streams the request body out of Beast's parser on demand.
template <class Stream>
class ParserBody final : public BodyReader {
 public:
  ParserBody(Stream& s, beast::flat_buffer& buf, bhttp::request_parser<bhttp::buffer_body>& p,
             bool expect)
      : stream_(s), buf_(buf), parser_(p), expect_continue_(expect) {}

  Result<size_t> Read(char* out, size_t n) override {
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
      bhttp::read(stream_, buf_, parser_, ec);
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

  bool failed() const { return failed_; }
  bool continue_pending() const { return expect_continue_; }
  uint64_t bytes() const { return bytes_; }

 private:
  Result<size_t> Fail(const beast::error_code& ec) {
    failed_ = true;
    return Status(Code::kUnavailable, "request body was cut short: " + ec.message());
  }
  Stream& stream_;
  beast::flat_buffer& buf_;
  bhttp::request_parser<bhttp::buffer_body>& parser_;
  bool expect_continue_;
  bool failed_ = false;
  uint64_t bytes_ = 0;
};

// Sends `len` bytes of `fd` from `off` straight from the page cache.
bool SendFile(int sock, int fd, uint64_t off, uint64_t len, uint64_t& sent) {
  auto o = static_cast<off_t>(off);
  while (len > 0) {
    ssize_t n = ::sendfile(sock, fd, &o, std::min<uint64_t>(len, 1 << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{sock, POLLOUT, 0};
        ::poll(&p, 1, 30000);
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

// The socket under a plain or TLS stream.
template <class Stream>
int NativeFd(Stream& stream) {
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    return stream.native_handle();
  } else {
    return stream.next_layer().native_handle();
  }
}

// True when the client has closed or reset the connection: a log follower
// that went away must not keep its thread until the run ends.
bool PeerGone(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

std::string PercentDecode(std::string_view s) { return Decode(s, false); }

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

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

struct Server::Impl {
  ServerOptions opts;
  Handler handler;
  CompletionHook on_complete;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<ssl::context> tls;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle;
  // Open connections, shut down by Stop(). A multiset: a closed socket's
  // number may be reused by the next connection before its thread erases it.
  std::multiset<int> sockets;

  template <class Stream>
  void Serve(Stream& stream, const std::string& remote);
  template <class Stream>
  bool Write(Stream& stream, const Response& resp, bool keep_alive, uint64_t& out);
  template <class Stream>
  bool WriteChunks(Stream& stream, const BodyStream& next, uint64_t& out);
  void Connection(std::unique_ptr<tcp::socket> socket);
};

template <class Stream>
bool Server::Impl::Write(Stream& stream, const Response& resp, bool keep_alive, uint64_t& out) {
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
    out += net::write(stream, net::buffer(header), ec);
    return !ec && WriteChunks(stream, resp.stream, out);
  }
  if (!resp.source || !send_body) {
    std::array<net::const_buffer, 2> bufs{
        net::buffer(header), net::buffer(resp.body.data(), send_body ? resp.body.size() : 0)};
    out += net::write(stream, bufs, ec);
    return !ec;
  }
  out += net::write(stream, net::buffer(header), ec);
  if (ec) return false;
  const BodySource& src = *resp.source;
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    if (src.fd >= 0) return SendFile(stream.native_handle(), src.fd, src.offset, src.length, out);
  }
  std::vector<char> buf(std::min<uint64_t>(src.length, 1 << 20));
  uint64_t off = src.offset, left = src.length;
  while (left > 0) {
    auto n = src.read(off, buf.data(), std::min<uint64_t>(left, buf.size()));
    if (!n.ok() || *n == 0) return false;
    out += net::write(stream, net::buffer(buf.data(), *n), ec);
    if (ec) return false;
    off += *n;
    left -= *n;
  }
  return true;
}

template <class Stream>
bool Server::Impl::WriteChunks(Stream& stream, const BodyStream& next, uint64_t& out) {
  std::vector<char> buf(64 * 1024);
  beast::error_code ec;
  while (true) {
    auto n = next(buf.data(), buf.size());
    if (!n.ok()) return false;  // no way to report it mid-body: cut the connection
    if (*n == kStreamIdle) {
      if (stopping || PeerGone(NativeFd(stream))) return false;
      continue;
    }
    if (*n == 0) break;
    size_t m = std::min(*n, buf.size());
    char size_line[24];
    int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", m);
    std::array<net::const_buffer, 3> bufs{net::buffer(size_line, static_cast<size_t>(len)),
                                          net::buffer(buf.data(), m), net::buffer("\r\n", 2)};
    out += net::write(stream, bufs, ec);
    if (ec) return false;
  }
  out += net::write(stream, net::buffer("0\r\n\r\n", 5), ec);
  return !ec;
}

template <class Stream>
void Server::Impl::Serve(Stream& stream, const std::string& remote) {
  beast::flat_buffer buf;
  // Beast sizes each socket read by the buffer's free capacity; without room
  // to spare, request bodies arrive 512 bytes per recv (measured: half the
  // server CPU of a large upload went there).
  buf.reserve(64 * 1024);
  while (!stopping) {
    bhttp::request_parser<bhttp::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(64 * 1024);
    beast::error_code ec;
    bhttp::read_header(stream, buf, parser, ec);
    if (ec) return;
    auto started = std::chrono::steady_clock::now();
    auto& msg = parser.get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    ParseTarget(req);
    for (const auto& f : msg)
      req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    // Read from the header rather than parser.content_length(): GCC 12 warns
    // (maybe-uninitialized) inside boost::optional under the sanitizers.
    if (auto it = msg.find(bhttp::field::content_length); it != msg.end() && !parser.chunked()) {
      req.content_length = std::strtoull(std::string(it->value()).c_str(), nullptr, 10);
    }
    req.chunked = parser.chunked();
    req.remote_addr = remote;
    req.tls = !std::is_same_v<Stream, tcp::socket>;
    bool expect = EqualsIgnoreCase(req.Header("Expect"), "100-continue");
    ParserBody<Stream> body(stream, buf, parser, expect && !parser.is_done());
    req.body = &body;

    Response resp;
    try {
      handler(req, resp);
    } catch (const std::exception& e) {
      resp = Response{};
      resp.status = 500;
      resp.body = std::string("{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"internal error: ") +
                  e.what() + "\"}]}";
      resp.Set("Content-Type", "application/json");
    }
    // A HEAD response never has a body, whichever handler (or error) built it;
    // stray bytes would be read as the next response on a kept-alive connection.
    if (req.method == "HEAD") resp.head_only = true;
    bool keep = msg.keep_alive() && !stopping;
    if (!parser.is_done()) {
      // Drain a small unread body so the connection stays usable; give up on large ones.
      if (body.failed() || body.continue_pending()) {
        keep = false;
      } else {
        char sink[16 * 1024];
        uint64_t drained = 0;
        while (drained < (1 << 20)) {
          auto n = body.Read(sink, sizeof sink);
          if (!n.ok() || *n == 0) break;
          drained += *n;
        }
        if (!parser.is_done()) keep = false;
      }
    }
    uint64_t out = 0;
    bool wrote = Write(stream, resp, keep, out);
    if (on_complete) {
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      on_complete(Completion{req, resp, body.bytes(), out, secs});
    }
    if (!wrote || !keep) return;
  }
}

// `socket` is already in `sockets` (Run adds it), so ~Server waits for it.
void Server::Impl::Connection(std::unique_ptr<tcp::socket> socket) {
  int fd = socket->native_handle();
  beast::error_code ec;
  socket->set_option(tcp::no_delay(true), ec);
  std::string remote;
  auto ep = socket->remote_endpoint(ec);
  if (!ec) remote = ep.address().to_string();
  try {
    if (tls) {
      ssl::stream<tcp::socket> stream(std::move(*socket), *tls);
      stream.handshake(ssl::stream_base::server, ec);
      if (!ec) {
        Serve(stream, remote);
        stream.shutdown(ec);
      }
    } else {
      Serve(*socket, remote);
      socket->shutdown(tcp::socket::shutdown_send, ec);
    }
  } catch (const std::exception&) {
    // A connection's failure never takes the server down.
  }
  // Even a moved-from socket uses the io_context when destroyed: that must
  // happen before ~Server (released by the erase below) destroys it.
  socket.reset();
  std::lock_guard lock(mu);
  sockets.erase(sockets.find(fd));
  idle.notify_all();
}

Server::Server(ServerOptions options, Handler handler, CompletionHook on_complete)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(options);
  impl_->handler = std::move(handler);
  impl_->on_complete = std::move(on_complete);
}

Server::~Server() {
  Stop();
  std::unique_lock lock(impl_->mu);
  impl_->idle.wait(lock, [&] { return impl_->sockets.empty(); });
}

Status Server::Listen() {
  auto& i = *impl_;
  try {
    if (!i.opts.tls_cert_file.empty()) {
      i.tls.emplace(ssl::context::tls_server);
      i.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
      i.tls->use_certificate_chain_file(i.opts.tls_cert_file);
      i.tls->use_private_key_file(i.opts.tls_key_file, ssl::context::pem);
    }
    tcp::endpoint ep(net::ip::make_address(i.opts.address), i.opts.port);
    i.acceptor.open(ep.protocol());
    i.acceptor.set_option(net::socket_base::reuse_address(true));
    i.acceptor.bind(ep);
    i.acceptor.listen(net::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, "listen on " + i.opts.address + ":" +
                                          std::to_string(i.opts.port) + ": " + e.what());
  }
  return Status::Ok();
}

uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::Run() {
  auto& i = *impl_;
  while (!i.stopping) {
    tcp::socket socket(i.ioc);
    beast::error_code ec;
    i.acceptor.accept(socket, ec);
    if (i.stopping) break;
    if (ec) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // e.g. EMFILE: back off
      continue;
    }
    {
      std::lock_guard lock(i.mu);
      if (i.sockets.size() >= i.opts.max_connections) continue;  // closes the socket
      // Registered here, not in the new thread, so ~Server cannot miss it.
      i.sockets.insert(socket.native_handle());
    }
    int fd = socket.native_handle();
    auto owned = std::make_unique<tcp::socket>(std::move(socket));
    try {
      std::thread([&i, s = std::move(owned)]() mutable { i.Connection(std::move(s)); }).detach();
    } catch (const std::system_error&) {  // no thread to be had: drop the connection
      std::lock_guard lock(i.mu);
      i.sockets.erase(i.sockets.find(fd));
    }
  }
}

void Server::Stop() {
  auto& i = *impl_;
  // All under mu: waking Run() lets ~Server proceed, and it must not free the
  // acceptor while this Stop (e.g. from a signal thread) is still closing it.
  std::lock_guard lock(i.mu);
  if (i.stopping.exchange(true)) return;
  beast::error_code ec;
  ::shutdown(i.acceptor.native_handle(), SHUT_RDWR);
  i.acceptor.close(ec);
  for (int fd : i.sockets) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace drydock::http
