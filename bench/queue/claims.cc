// Claims per second on the embedded SQLite metadata store: RUNS runs are
// queued, then AGENTS threads take them as agents do, each claim followed
// by one lease renewal and the fenced final update (claim + heartbeat +
// complete: the queue's whole cost per run).
//
//   bench_claims DIR [RUNS] [AGENTS...]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/metadata_store.h"

using namespace drydock;
using Clock = std::chrono::steady_clock;

namespace {

storage::RunRow Queued(int64_t seq) {
  storage::RunRow r;
  r.id = "r" + std::to_string(seq);
  r.status = "Queued";
  r.type = "QuickBuild";
  r.request_json = R"({"source":"/dev/null","images":["team/app:1"]})";
  r.platform = "linux/amd64";
  return r;
}

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "bench_claims: %s: %s\n", what.c_str(), s.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_claims DIR [RUNS] [AGENTS...]\n");
    return 2;
  }
  int runs = argc > 2 ? std::atoi(argv[2]) : 2000;
  std::vector<int> agent_counts;
  for (int i = 3; i < argc; ++i) agent_counts.push_back(std::atoi(argv[i]));
  if (agent_counts.empty()) agent_counts = {1, 2, 4};
  for (int agents : agent_counts) {
    std::filesystem::path db =
        std::filesystem::path(argv[1]) / ("claims-" + std::to_string(agents) + ".db");
    auto store = storage::OpenSqliteMetadataStore(db.string());
    if (!store.ok()) return Fail("open", store.status());
    auto t0 = Clock::now();
    for (int i = 0; i < runs; ++i) {
      auto created = (*store)->CreateRun("", Queued);
      if (!created.ok()) return Fail("queue", created.status());
    }
    double queue_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<std::thread> threads;
    std::atomic<int> done{0}, failed{0};
    t0 = Clock::now();
    for (int a = 0; a < agents; ++a) {
      threads.emplace_back([&, a] {
        storage::RunClaimFilter f{"agent" + std::to_string(a), "", {"linux/amd64"}};
        while (true) {
          auto row = (*store)->ClaimRun(f, 1000, 30000);
          if (!row.ok()) {
            ++failed;
            continue;
          }
          if (!*row) return;
          auto beat = (*store)->RenewRunLease((*row)->id, (*row)->attempt, 1001, 30000);
          storage::RunRow end = **row;
          end.status = "Succeeded";
          auto saved = (*store)->UpdateClaimedRun(end, (*row)->attempt);
          if (!beat.ok() || !saved.ok() || !*saved) ++failed;
          ++done;
        }
      });
    }
    for (auto& t : threads) t.join();
    double claim_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("agents=%d runs=%d queued_per_s=%.0f claimed_completed_per_s=%.0f failed=%d\n",
                agents, runs, runs / queue_s, done / claim_s, failed.load());
    if (done != runs || failed != 0) return 1;
  }
  return 0;
}
