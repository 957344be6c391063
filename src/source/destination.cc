// Which addresses a fetch made for a build may connect to. A server build
// fetches URLs its user chose (context URLs, `ADD <url>`, git remotes): left
// alone, those reach the server's own loopback ports, the neighbours on its
// private network and the cloud metadata service at 169.254.169.254.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "source/internal.h"
#include "source/source.h"

namespace drydock::source {
namespace {

bool InV4Net(uint32_t addr, const char* net, int bits) {
  in_addr n{};
  ::inet_pton(AF_INET, net, &n);
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (addr & mask) == (ntohl(n.s_addr) & mask);
}

bool IsPrivateV4(uint32_t a) {
  static constexpr struct {
    const char* net;
    int bits;
  } kPrivate[] = {
      {"0.0.0.0", 8},       // "this network"; 0.0.0.0 reaches the host itself
      {"10.0.0.0", 8},      // RFC 1918
      {"100.64.0.0", 10},   // carrier-grade NAT
      {"127.0.0.0", 8},     // loopback
      {"169.254.0.0", 16},  // link-local: cloud metadata services
      {"172.16.0.0", 12},   // RFC 1918
      {"192.0.0.0", 24},    // IETF protocol assignments
      {"192.168.0.0", 16},  // RFC 1918
      {"198.18.0.0", 15},   // benchmarking
      {"224.0.0.0", 4},     // multicast
      {"240.0.0.0", 4},     // reserved, broadcast
  };
  for (const auto& p : kPrivate) {
    if (InV4Net(a, p.net, p.bits)) return true;
  }
  return false;
}

bool IsPrivateV6(const in6_addr& a) {
  const uint8_t* b = a.s6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_V4COMPAT(&a)) {
    uint32_t v4;
    std::memcpy(&v4, b + 12, 4);
    return IsPrivateV4(ntohl(v4));
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {  // NAT64 64:ff9b::/96
    uint32_t v4;
    std::memcpy(&v4, b + 12, 4);
    return IsPrivateV4(ntohl(v4));
  }
  return IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_LINKLOCAL(&a) ||
         IN6_IS_ADDR_SITELOCAL(&a) || IN6_IS_ADDR_MULTICAST(&a) ||
         (b[0] & 0xfe) == 0xfc;  // unique local fc00::/7
}

}  // namespace

bool IsPrivateAddress(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return IsPrivateV4(ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr));
  if (sa->sa_family == AF_INET6)
    return IsPrivateV6(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  return true;  // anything else (unix sockets…) is never a public destination
}

std::string AddressText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

std::string PrivateDestinationMessage(std::string_view what, std::string_view address) {
  return std::string(what) + " resolves to " + std::string(address) +
         ", a loopback, link-local or private address, which builds on this server may not "
         "fetch from (the server's setting builds.allow_private_fetches allows it)";
}

Result<std::vector<std::string>> ResolvePublic(const std::string& host, const std::string& what) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0)
    return Status(Code::kUnavailable, what + ": cannot resolve " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);
  std::vector<std::string> out;
  for (addrinfo* a = found; a; a = a->ai_next) {
    std::string text = AddressText(a->ai_addr);
    // One private address is enough to refuse: which one a client picks is
    // not ours to decide.
    if (IsPrivateAddress(a->ai_addr))
      return Status(Code::kDenied, PrivateDestinationMessage(what, text));
    if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(text);
  }
  if (out.empty()) return Status(Code::kUnavailable, what + ": " + host + " has no address");
  return out;
}

}  // namespace drydock::source
