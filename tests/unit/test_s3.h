// A real S3 endpoint for tests: scripts/s3/start-s3.sh's throwaway
// single-node Ceph (monitor, OSD, radosgw on loopback), started on first
// use and stopped with the process. Each test gets a bucket of its own.
#pragma once

#include <string>

#include "base/random.h"
#include "storage/blob_store.h"
#include "test_dir.h"

namespace drydock::testing {

class LocalS3 {
 public:
  // Starts the cluster once; false (with the reason in why()) when it cannot.
  static LocalS3& Get() {
    static LocalS3 s3;
    return s3;
  }
  bool ok() const { return !endpoint_.empty(); }
  const std::string& why() const { return why_; }

  // A fresh bucket; its config for the S3 blob store.
  storage::S3Config NewBucket() {
    storage::S3Config c;
    c.endpoint = endpoint_;
    c.bucket = "t" + RandomHex(8);
    c.access_key = key_;
    c.secret_key = secret_;
    c.part_size = 5 << 20;       // the smallest S3 allows, so a few MiB make parts
    c.max_copy_bytes = 8 << 20;  // and a few more are copied part by part
    Sh("curl -sSf -X PUT --aws-sigv4 aws:amz:us-east-1:s3 --user " + key_ + ":" + secret_ +
       " -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' " + endpoint_ + "/" + c.bucket);
    return c;
  }

  ~LocalS3() {
    if (!dir_.empty())
      Sh(std::string(DRYDOCK_SOURCE_DIR) + "/scripts/s3/stop-s3.sh " + dir_ + " 2>/dev/null");
  }

 private:
  LocalS3() {
    if (std::system("command -v radosgw >/dev/null 2>&1") != 0) {
      why_ = "radosgw is not installed (scripts/install-deps.sh installs it)";
      return;
    }
    // A second try: the script picks free ports, which a parallel test may
    // take before the daemons bind them. A failure's log goes to stderr.
    std::string start = std::string(DRYDOCK_SOURCE_DIR) + "/scripts/s3/start-s3.sh";
    std::string out =
        Sh(start + " 2>/tmp/drydock-s3-start.log || { cat /tmp/drydock-s3-start.log >&2; " + start +
           "; }");
    auto vars = ParseExports(out);
    dir_ = vars["S3_DIR"];
    endpoint_ = vars["S3_ENDPOINT"];
    key_ = vars["AWS_ACCESS_KEY_ID"];
    secret_ = vars["AWS_SECRET_ACCESS_KEY"];
    if (endpoint_.empty()) why_ = "start-s3.sh failed (see /tmp/drydock-s3-start.log)";
  }

  std::string dir_, endpoint_, key_, secret_, why_;
};

}  // namespace drydock::testing
