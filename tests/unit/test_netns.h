// A network namespace of a test's own, reached from the host through a veth
// pair on a /30 of `prefix` (e.g. "198.18.7.", benchmarking: private to
// builds; "198.51.100.", TEST-NET-2: public to them), for servers that must
// not listen on the host's loopback. Removed with everything in it.
#pragma once

#include <string>

#include "base/random.h"
#include "test_dir.h"

namespace drydock::testing {

class VethNamespace {
 public:
  explicit VethNamespace(const std::string& prefix) : name_("ddns" + RandomHex(3)) {
    int net = 4 * (std::stoi(RandomHex(1), nullptr, 16) % 60);  // .net+1 host, .net+2 inside
    host_ = prefix + std::to_string(net + 1);
    address_ = prefix + std::to_string(net + 2);
    Sh("ip netns add " + name_);
    Sh("ip link add " + name_ + "a type veth peer name " + name_ + "b");
    Sh("ip link set " + name_ + "b netns " + name_);
    Sh("ip addr add " + host_ + "/30 dev " + name_ + "a && ip link set " + name_ + "a up");
    Exec("sh -c 'ip addr add " + address_ + "/30 dev " + name_ + "b && ip link set " + name_ +
         "b up && ip link set lo up'");
  }
  ~VethNamespace() {
    Sh("ip link del " + name_ + "a 2>/dev/null || true");
    Sh("ip netns del " + name_);
  }
  VethNamespace(const VethNamespace&) = delete;
  VethNamespace& operator=(const VethNamespace&) = delete;

  // The namespace's own address.
  const std::string& address() const { return address_; }
  // Runs `cmd` inside the namespace (test setup: it must succeed).
  std::string Exec(const std::string& cmd) const {
    return Sh("ip netns exec " + name_ + " " + cmd);
  }

 private:
  std::string name_, host_, address_;
};

}  // namespace drydock::testing
