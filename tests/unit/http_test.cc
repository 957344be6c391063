// http::Server's chunked streaming responses, seen from a raw socket.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "base/fd.h"
#include "http/server.h"

namespace drydock::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class TestServer {
 public:
  explicit TestServer(Handler handler) {
    ServerOptions o;
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
  // No terminating chunk: the client must see the body as incomplete.
  EXPECT_FALSE(ReadUntil(fd.get(), got, "0\r\n\r\n"));
  EXPECT_NE(got.find("partial"), std::string::npos) << got;
}

}  // namespace
}  // namespace drydock::http
