// HTTP/1.1 request heads (and chunked bodies) as the server reads them from
// any client that can connect: Boost.Beast's request parser with the limits
// http/server.cc sets, fed in the fragments the input chooses (as TCP may
// deliver them), then the fields the server copies out of the message.
//
// The server's own target splitting (path and query, percent-decoding) is
// internal to http/server.cc and so not reached from here.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;

// A SyncReadStream over the input, handing out at most `step` bytes per read.
class MemoryStream {
 public:
  MemoryStream(std::string_view data, size_t step) : data_(data), step_(step) {}

  template <class Buffers>
  size_t read_some(const Buffers& buffers, beast::error_code& ec) {
    if (data_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    size_t n = net::buffer_copy(buffers, net::buffer(data_.data(), std::min(step_, data_.size())));
    data_.remove_prefix(n);
    ec = {};
    return n;
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    beast::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view data_;
  size_t step_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t step = data[0] == 0 ? std::numeric_limits<size_t>::max() : data[0];
  MemoryStream stream(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), step);
  beast::flat_buffer buf;
  bhttp::request_parser<bhttp::buffer_body> parser;
  // As http/server.cc: any body size (bodies stream to disk), 64 KiB of head.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.header_limit(64 * 1024);
  beast::error_code ec;
  bhttp::read_header(stream, buf, parser, ec);
  if (ec) return 0;
  auto& msg = parser.get();
  std::string method(msg.method_string()), target(msg.target());
  for (const auto& f : msg) {
    std::string name(f.name_string()), value(f.value());
  }
  if (auto it = msg.find(bhttp::field::content_length); it != msg.end() && !parser.chunked())
    (void)std::strtoull(std::string(it->value()).c_str(), nullptr, 10);
  (void)msg.keep_alive();
  (void)msg.find(bhttp::field::expect);
  // The body, as the server's BodyReader pulls it.
  char sink[4096];
  while (!parser.is_done()) {
    auto& b = parser.get().body();
    b.data = sink;
    b.size = sizeof sink;
    bhttp::read(stream, buf, parser, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) break;
  }
  return 0;
}
