// An in-memory Backend for the runner's tests: disks as byte vectors, completions on a worker
// thread (optionally out of order), and knobs to misbehave (corrupt a read, lose a write, fail
// requests) so the tests can show the runner catches each.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "backend.h"
#include "expected.h"

namespace exerciser {

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(const std::vector<LunGeometry> &luns, bool reorder = true);
  ~FakeBackend() override;

  bool lun_online(size_t i) override;
  void submit(size_t lun_index, bool write, uint64_t lba, uint32_t blocks, uint8_t *data,
              std::function<void(const IoResult &)> done) override;
  std::string run_event(const Event &ev) override;
  bool readded_disks_blank() const override { return true; }

  // Misbehaviour.
  void corrupt_next_read() {
    std::lock_guard<std::mutex> l(mu_);
    corrupt_reads_++;
  }
  void lose_next_write() {
    std::lock_guard<std::mutex> l(mu_);
    lose_writes_++;
  }
  void fail_next(unsigned n, const std::string &kind) {
    std::lock_guard<std::mutex> l(mu_);
    fail_ += n;
    fail_kind_ = kind;
  }
  // Misdirect the next write to lba + 1.
  void misdirect_next_write() {
    std::lock_guard<std::mutex> l(mu_);
    misdirect_++;
  }
  // Never complete anything from now on.
  void hang() {
    std::lock_guard<std::mutex> l(mu_);
    hang_ = true;
  }

  uint64_t submitted() const {
    std::lock_guard<std::mutex> l(mu_);
    return submitted_;
  }
  size_t max_in_flight() const {
    std::lock_guard<std::mutex> l(mu_);
    return max_in_flight_;
  }
  std::vector<uint8_t> &disk(size_t i) { return disks_[i]; }
  std::vector<std::string> events_seen() const {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }

 private:
  struct Req {
    size_t lun;
    bool write;
    uint64_t lba;
    uint32_t blocks;
    uint8_t *data;
    std::function<void(const IoResult &)> done;
  };
  void worker();
  void execute(Req &r);

  std::vector<LunGeometry> luns_;
  std::vector<std::vector<uint8_t>> disks_;
  std::vector<bool> online_;
  bool reorder_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Req> queue_;
  size_t in_flight_ = 0, max_in_flight_ = 0;
  uint64_t submitted_ = 0;
  unsigned corrupt_reads_ = 0, lose_writes_ = 0, fail_ = 0, misdirect_ = 0;
  std::string fail_kind_;
  bool hang_ = false;
  bool quit_ = false;
  uint64_t rng_ = 12345;
  std::vector<std::string> events_;
  std::thread thread_;
};

}  // namespace exerciser
