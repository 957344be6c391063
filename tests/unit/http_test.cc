// http::Server seen from a raw socket: chunked streaming responses, and
// what hostile clients (idle, slow, oversized) may cost it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "http/server.h"
#include "test_dir.h"

namespace drydock::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class TestServer {
 public:
  explicit TestServer(Handler handler, ServerOptions o = {}) {
    o.address = "127.0.0.1";
    o.port = 0;
    server_ = std::make_unique<Server>(o, std::move(handler), nullptr);
    EXPECT_TRUE(server_->Listen().ok());
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~TestServer() {
    server_->Stop();
    thread_.join();
    server_.reset();  // waits for open connections
  }
  uint16_t port() const { return server_->port(); }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

UniqueFd Connect(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

void Send(int fd, std::string_view s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Reads into `got` until it contains `needle` (false after 5 s or EOF).
bool ReadUntil(int fd, std::string& got, std::string_view needle) {
  auto deadline = Clock::now() + 5s;
  while (got.find(needle) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return true;
}

// Copies `text` into the buffer a stream is handed.
size_t Put(std::string_view text, char* buf, size_t n) {
  size_t m = std::min(n, text.size());
  std::copy_n(text.data(), m, buf);
  return m;
}

TEST(HttpStream, ChunksArriveAsTheyAreProduced) {
  TestServer server([](Request& req, Response& resp) {
    if (req.path == "/plain") {
      resp.body = "plain";
      return;
    }
    auto step = std::make_shared<int>(0);
    resp.Set("Content-Type", "text/plain");
    resp.stream = [step](char* buf, size_t n) -> Result<size_t> {
      switch ((*step)++) {
        case 0:
          return Put("first\n", buf, n);
        case 1:
        case 2:
        case 3:
          std::this_thread::sleep_for(150ms);  // nothing new for a while
          return kStreamIdle;
        case 4:
          return Put("second\n", buf, n);
        default:
          return size_t{0};
      }
    };
  });
  UniqueFd fd = Connect(server.port());
  auto start = Clock::now();
  Send(fd.get(), "GET /log HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd.get(), got, "first\n")) << got;
  EXPECT_LT(Clock::now() - start, 300ms) << "the first chunk waited for the rest";
  EXPECT_EQ(got.find("second"), std::string::npos);
  ASSERT_TRUE(ReadUntil(fd.get(), got, "0\r\n\r\n")) << got;
  EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("Content-Length"), std::string::npos) << got;
  std::string body = got.substr(got.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, "6\r\nfirst\n\r\n7\r\nsecond\n\r\n0\r\n\r\n");

  // The connection stays usable after the last chunk.
  got.clear();
  Send(fd.get(), "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(ReadUntil(fd.get(), got, "\r\n\r\nplain")) << got;
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
}

TEST(HttpStream, IdleStreamEndsWhenTheClientLeaves) {
  auto ended = std::make_shared<std::atomic<bool>>(false);
  struct Guard {
    explicit Guard(std::shared_ptr<std::atomic<bool>> f) : flag(std::move(f)) {}
    ~Guard() { *flag = true; }
    std::shared_ptr<std::atomic<bool>> flag;
  };
  TestServer server([ended](Request&, Response& resp) {
    auto guard = std::make_shared<Guard>(ended);
    resp.stream = [guard](char* buf, size_t n) -> Result<size_t> {
      static_cast<void>(buf);
      static_cast<void>(n);
      std::this_thread::sleep_for(20ms);
      return kStreamIdle;  // a follower of a run that prints nothing
    };
  });
  {
    UniqueFd fd = Connect(server.port());
    Send(fd.get(), "GET /log HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got;
    ASSERT_TRUE(ReadUntil(fd.get(), got, "\r\n\r\n"));
    EXPECT_FALSE(*ended);
  }  // the client hangs up
  auto deadline = Clock::now() + 5s;
  while (!*ended && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(*ended) << "the server kept following for a client that left";
}

std::string ReadToClose(int fd);

TEST(HttpStream, ErrorCutsTheConnection) {
  TestServer server([](Request&, Response& resp) {
    auto step = std::make_shared<int>(0);
    resp.stream = [step](char* buf, size_t n) -> Result<size_t> {
      if ((*step)++ == 0) return Put("partial", buf, n);
      return Status(Code::kInternal, "log vanished");
    };
  });
  UniqueFd fd = Connect(server.port());
  Send(fd.get(), "GET /log HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd.get(), got, "partial")) << got;
  // The server closes the connection (a stall would also lack the last
  // chunk, so the close itself is checked) ...
  got += ReadToClose(fd.get());
  char c;
  ssize_t n = ::recv(fd.get(), &c, 1, MSG_DONTWAIT);
  EXPECT_TRUE(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      << "the connection was left open after the stream failed";
  // ... without the terminating chunk: the client sees the body as incomplete.
  EXPECT_EQ(got.find("0\r\n\r\n"), std::string::npos) << got;
}

// --- Hostile clients ---------------------------------------------------------

constexpr std::string_view kPartialHead = "GET / HTTP/1.1\r\nHost: x\r\n";
constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

void Ok(Request&, Response& resp) { resp.body = "ok"; }

// Waits up to `limit` for the server to close `fd` (EOF or reset), discarding
// whatever it sends first.
bool ClosedWithin(int fd, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
}

// True while the server has neither answered nor closed `fd`.
bool StillOpen(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

// Sends what the server will take; it may refuse (and close) part way.
void SendSome(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

// Everything the server sends until it closes the connection (at most 5 s).
std::string ReadToClose(int fd) {
  std::string got;
  auto deadline = Clock::now() + 5s;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return got;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

// Sends `request` on a new connection and returns the whole response.
std::string Exchange(uint16_t port, std::string_view request) {
  UniqueFd fd = Connect(port);
  SendSome(fd.get(), request);
  return ReadToClose(fd.get());
}

// Enough descriptors for `n` sockets at both ends in this one process.
bool RaiseFileLimit(rlim_t n) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur >= n;
}

int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST(HttpLimits, IdleHalfOpenConnectionsDoNotLockOutOthers) {
  constexpr int kIdle = 2000;
  DD_SKIP_UNLESS(RaiseFileLimit(2 * kIdle + 200), "not enough descriptors for the test");
  ServerOptions o;
  o.max_connections = 2 * kIdle;
  o.max_connections_per_client = 2 * kIdle;  // all of them come from 127.0.0.1
  o.max_workers = 4;                         // idle connections must not hold one
  o.header_timeout = 60s;
  TestServer server(Ok, o);
  int threads_before = ThreadCount();

  std::vector<UniqueFd> idle;
  idle.reserve(kIdle);
  for (int n = 0; n < kIdle; ++n) {
    idle.push_back(Connect(server.port()));
    ASSERT_TRUE(idle.back().valid());
    Send(idle.back().get(), kPartialHead);
  }

  auto start = Clock::now();
  std::string reply =
      Exchange(server.port(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto took = Clock::now() - start;
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_LT(took, 1s) << "a normal client waited behind idle connections";

  // The server holds every idle connection, and on no thread of its own.
  EXPECT_LT(ThreadCount() - threads_before, 20);
  int open = 0;
  for (const auto& fd : idle) open += StillOpen(fd.get()) ? 1 : 0;
  EXPECT_EQ(open, kIdle);
  // ... and they are alive: finishing a head gets a response.
  for (int n = 0; n < kIdle; n += kIdle / 10) {
    Send(idle[n].get(), "\r\n");
    std::string got;
    ASSERT_TRUE(ReadUntil(idle[n].get(), got, "\r\n\r\nok")) << "connection " << n;
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  }
}

TEST(HttpLimits, HeaderTimeoutClosesAnUnfinishedHead) {
  ServerOptions o;
  o.header_timeout = 1s;
  TestServer server(Ok, o);
  UniqueFd fd = Connect(server.port());
  auto start = Clock::now();
  Send(fd.get(), kPartialHead);
  ASSERT_TRUE(ClosedWithin(fd.get(), 3s)) << "the unfinished head kept its connection";
  auto took = Clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2s);

  // A client that sends nothing at all is closed as well.
  UniqueFd silent = Connect(server.port());
  EXPECT_TRUE(ClosedWithin(silent.get(), 3s));
}

TEST(HttpLimits, StalledBodyEndsTheRequest) {
  ServerOptions o;
  o.body_idle_timeout = 1s;
  auto outcome = std::make_shared<std::atomic<int>>(0);  // 1: read failed, 2: read all
  TestServer server(
      [outcome](Request& req, Response& resp) {
        auto body = req.ReadAll(2 << 20);
        *outcome = body.ok() ? 2 : 1;
        resp.status = body.ok() ? 201 : 400;
      },
      o);
  UniqueFd fd = Connect(server.port());
  auto start = Clock::now();
  Send(fd.get(), "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nhello");
  ASSERT_TRUE(ClosedWithin(fd.get(), 5s)) << "a stalled upload kept its connection";
  auto took = Clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2500ms);
  auto deadline = Clock::now() + 2s;
  while (*outcome == 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(*outcome, 1) << "the handler should see the body cut short";
}

TEST(HttpLimits, UnreadStalledBodyStillGetsItsResponse) {
  ServerOptions o;
  o.body_idle_timeout = 10s;
  TestServer server(
      [](Request&, Response& resp) {
        resp.status = 401;  // refused before the body matters
        resp.body = "denied";
      },
      o);
  UniqueFd fd = Connect(server.port());
  auto start = Clock::now();
  Send(fd.get(), "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nhello");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd.get(), got, "\r\n\r\ndenied")) << got;
  EXPECT_LT(Clock::now() - start, 3s) << "the response waited for the body";
  EXPECT_EQ(got.rfind("HTTP/1.1 401", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_TRUE(ClosedWithin(fd.get(), 5s));
}

TEST(HttpLimits, UnreadSmallBodyKeepsTheConnection) {
  TestServer server([](Request& req, Response& resp) { resp.body = req.path; });
  UniqueFd fd = Connect(server.port());
  Send(fd.get(), "PUT /first HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd.get(), got, "\r\n\r\n/first")) << got;
  EXPECT_EQ(got.find("Connection: close"), std::string::npos) << got;
  got.clear();
  Send(fd.get(), "GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(ReadUntil(fd.get(), got, "\r\n\r\n/second")) << got;
}

TEST(HttpLimits, SlowButSteadyBodyIsNotCut) {
  ServerOptions o;
  o.body_idle_timeout = 1s;
  TestServer server(
      [](Request& req, Response& resp) {
        auto body = req.ReadAll(1 << 20);
        resp.body = body.ok() ? std::to_string(body->size()) : "failed";
      },
      o);
  UniqueFd fd = Connect(server.port());
  Send(fd.get(), "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n");
  for (int n = 0; n < 8; ++n) {  // 2.4 s in all, never 1 s without a byte
    std::this_thread::sleep_for(300ms);
    Send(fd.get(), "x");
  }
  std::string got;
  ASSERT_TRUE(ReadUntil(fd.get(), got, "\r\n\r\n8")) << got;
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
}

TEST(HttpLimits, OversizedHeadersGet431) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  TestServer server([calls](Request& req, Response& resp) {
    ++*calls;
    Ok(req, resp);
  });
  std::string big =
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n";
  std::string reply = Exchange(server.port(), big);
  EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("\"HEADERS_TOO_LARGE\""), std::string::npos) << reply;
  EXPECT_NE(reply.find("65536 bytes"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Content-Type: application/json"), std::string::npos) << reply;

  // Many headers the size Docker sends pass.
  std::string docker = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  for (int n = 0; n < 8; ++n)
    docker += "X-Header-" + std::to_string(n) + ": " + std::string(2000, 'b') + "\r\n";
  reply = Exchange(server.port(), docker + "\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply.substr(0, 200);
  EXPECT_EQ(*calls, 1);
}

TEST(HttpLimits, OversizedTargetsGet414) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  TestServer server([calls](Request& req, Response& resp) {
    ++*calls;
    Ok(req, resp);
  });
  // Over the target limit but within the head limit, and over both.
  for (size_t len : {9 * 1024, 100 * 1024}) {
    std::string req = "GET /v2/x?last=" + std::string(len, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string reply = Exchange(server.port(), req);
    EXPECT_EQ(reply.rfind("HTTP/1.1 414", 0), 0u) << len << ": " << reply.substr(0, 200);
    EXPECT_NE(reply.find("\"URI_TOO_LONG\""), std::string::npos) << reply;
    EXPECT_NE(reply.find("8192 bytes"), std::string::npos) << reply;
  }
  // A long but reasonable query passes.
  std::string req = "GET /v2/x?last=" + std::string(7 * 1024, 'a') +
                    " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string reply = Exchange(server.port(), req);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply.substr(0, 200);
  EXPECT_EQ(*calls, 1);
}

TEST(HttpLimits, BadContentLengthGets400) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  TestServer server([calls](Request& req, Response& resp) {
    ++*calls;
    Ok(req, resp);
  });
  for (std::string_view value : {"99999999999999999999999", "12abc", "-1", "5, 6"}) {
    std::string req =
        "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::string(value) + "\r\n\r\nhello";
    std::string reply = Exchange(server.port(), req);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << value << ": " << reply;
    EXPECT_NE(reply.find("invalid Content-Length"), std::string::npos) << reply;
  }
  std::string reply = Exchange(server.port(), "GET\x01 / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("malformed request"), std::string::npos) << reply;
  EXPECT_EQ(*calls, 0);
}

TEST(HttpLimits, ConnectionsPerClientAreCapped) {
  ServerOptions o;
  o.max_connections_per_client = 3;
  TestServer server(Ok, o);
  std::vector<UniqueFd> held;
  for (int n = 0; n < 3; ++n) {
    held.push_back(Connect(server.port()));
    Send(held.back().get(), kPartialHead);
  }
  UniqueFd extra = Connect(server.port());
  EXPECT_TRUE(ClosedWithin(extra.get(), 1s)) << "a connection over the cap was kept";
  // The held ones were accepted and are served: finishing a head gets an answer.
  for (const auto& fd : held) {
    Send(fd.get(), "\r\n");
    std::string got;
    EXPECT_TRUE(ReadUntil(fd.get(), got, "\r\n\r\nok")) << got;
  }

  // A slot freed is a slot to be had again.
  held.pop_back();
  bool served = false;
  for (int attempt = 0; attempt < 20 && !served; ++attempt) {
    std::string reply =
        Exchange(server.port(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    served = reply.rfind("HTTP/1.1 200", 0) == 0;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served);
}

TEST(HttpLimits, BusyWorkersQueueRequestsInsteadOfDroppingThem) {
  ServerOptions o;
  o.max_workers = 1;
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto slow_entered = std::make_shared<std::atomic<bool>>(false);
  auto fast_beside_slow = std::make_shared<std::atomic<bool>>(false);
  TestServer server(
      [=](Request& req, Response& resp) {
        if (req.path == "/slow") {
          *slow_entered = true;
          auto deadline = Clock::now() + 5s;
          while (!*release && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
        } else if (!*release) {
          *fast_beside_slow = true;
        }
        resp.body = req.path;
      },
      o);
  UniqueFd slow = Connect(server.port());
  Send(slow.get(), "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  auto deadline = Clock::now() + 5s;
  while (!*slow_entered && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(*slow_entered);  // the one worker is now taken
  UniqueFd fast = Connect(server.port());
  Send(fast.get(), "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
  pollfd p{fast.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 300), 0) << "a second handler ran beside the only worker";
  EXPECT_FALSE(*fast_beside_slow) << "a second handler ran beside the only worker";
  *release = true;
  std::string got;
  EXPECT_TRUE(ReadUntil(slow.get(), got, "/slow")) << got;
  got.clear();
  EXPECT_TRUE(ReadUntil(fast.get(), got, "/fast")) << got;
}

}  // namespace
}  // namespace drydock::http
