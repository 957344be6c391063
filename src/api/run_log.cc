// GET /api/v1/runs/{id}/log: the log so far, or followed live as a chunked
// response that ends when the run is final.
#include <chrono>
#include <cstring>
#include <memory>

#include "api/impl.h"

namespace drydock::api {
namespace {

using namespace std::chrono_literals;

constexpr size_t kFirstRead = 64 * 1024;
// How long one read waits for new lines before letting the server check
// that the follower is still there.
constexpr auto kFollowWait = 1000ms;

// The response body: log bytes from `offset` on, read as the server asks
// for them. Owns no run state; the run service outlives every connection.
class LogStream {
 public:
  LogStream(tasks::RunService& runs, std::string id, uint64_t offset, bool follow,
            tasks::LogChunk first)
      : runs_(runs),
        id_(std::move(id)),
        offset_(offset),
        follow_(follow),
        pending_(std::move(first.data)),
        finished_(first.finished) {}

  Result<size_t> Next(char* buf, size_t n) {
    if (pending_pos_ < pending_.size()) return FromPending(buf, n);
    if (finished_ && !follow_) return size_t{0};
    auto chunk = runs_.ReadLog(id_, offset_, n, follow_ ? kFollowWait : 0ms);
    if (!chunk.ok()) return chunk.status();
    if (chunk->data.empty()) {
      if (!follow_ || chunk->finished) return size_t{0};
      return http::kStreamIdle;
    }
    pending_ = std::move(chunk->data);
    pending_pos_ = 0;
    return FromPending(buf, n);
  }

 private:
  size_t FromPending(char* buf, size_t n) {
    size_t m = std::min(n, pending_.size() - pending_pos_);
    std::memcpy(buf, pending_.data() + pending_pos_, m);
    pending_pos_ += m;
    offset_ += m;
    return m;
  }

  tasks::RunService& runs_;
  std::string id_;
  uint64_t offset_;
  bool follow_;
  std::string pending_;
  size_t pending_pos_ = 0;
  bool finished_;
};

Result<uint64_t> ParseOffset(const std::optional<std::string>& text) {
  if (!text || text->empty()) return uint64_t{0};
  if (text->size() > 19 || text->find_first_not_of("0123456789") != std::string::npos)
    return Invalid("offset must be a non-negative number of bytes");
  return static_cast<uint64_t>(std::stoull(*text));
}

}  // namespace

void Api::Impl::RunLog(Ctx& c, const std::string& id) {
  tasks::Run run;
  if (!LoadReadableRun(c, id, run)) return;
  auto offset = ParseOffset(c.req.Query("offset"));
  if (!offset.ok()) return SendStatus(c.resp, offset.status());
  std::string f = c.req.Query("follow").value_or("");
  bool follow = f == "true" || f == "1";
  // The first read happens here so a bad offset is still an HTTP error.
  auto first = runs.ReadLog(id, *offset, kFirstRead, 0ms);
  if (!first.ok()) return SendStatus(c.resp, first.status());
  auto stream = std::make_shared<LogStream>(runs, id, *offset, follow, std::move(*first));
  c.resp.status = 200;
  c.resp.Set("Content-Type", "text/plain; charset=utf-8");
  c.resp.Set("Cache-Control", "no-store");
  c.resp.Set("X-Accel-Buffering", "no");  // proxies must pass lines on as they come
  c.resp.stream = [stream](char* buf, size_t n) { return stream->Next(buf, n); };
}

}  // namespace drydock::api
