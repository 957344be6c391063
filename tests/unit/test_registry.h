// Starts a real Drydock registry in-process (filesystem + SQLite stores,
// HTTP server on an ephemeral loopback port) for client-side tests.
#pragma once

#include <thread>

#include "auth/auth.h"
#include "events/events.h"
#include "http/server.h"
#include "registry/registry.h"
#include "test_dir.h"

namespace drydock::testing {

class TestRegistry {
 public:
  explicit TestRegistry(std::string admin_password = "admin-password") {
    blobs_ = std::move(*storage::OpenFilesystemBlobStore(dir_.path().string()));
    meta_ = std::move(*storage::OpenSqliteMetadataStore((dir_.path() / "meta.db").string()));
    auth_ = std::make_unique<auth::Authenticator>(*meta_, auth::Options{}, "test-signing-key");
    (void)auth_->CreateUser("admin", admin_password, true, {});
    registry_ =
        std::make_unique<registry::Registry>(*blobs_, *meta_, *auth_, bus_, registry::Options{});
    http::ServerOptions o;
    o.port = 0;
    server_ = std::make_unique<http::Server>(
        o,
        [this](http::Request& q, http::Response& r) {
          if (!registry_->Handle(q, r)) r.status = 404;
        },
        nullptr);
    (void)server_->Listen();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~TestRegistry() {
    server_->Stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  events::Bus& bus() { return bus_; }

 private:
  TempDir dir_ = MakeTestDir();
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<storage::MetadataStore> meta_;
  std::unique_ptr<auth::Authenticator> auth_;
  events::Bus bus_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

}  // namespace drydock::testing
