#include "fake_backend.h"

#include <cstring>

namespace exerciser {

FakeBackend::FakeBackend(const std::vector<LunGeometry> &luns, bool reorder)
    : luns_(luns), online_(luns.size(), true), reorder_(reorder) {
  for (const auto &g : luns) disks_.emplace_back(g.blocks * g.block_size, 0);
  thread_ = std::thread([this] { worker(); });
}

FakeBackend::~FakeBackend() {
  {
    std::lock_guard<std::mutex> l(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool FakeBackend::lun_online(size_t i) {
  std::lock_guard<std::mutex> l(mu_);
  return online_[i];
}

void FakeBackend::submit(size_t lun_index, bool write, uint64_t lba, uint32_t blocks, uint8_t *data,
                         std::function<void(const IoResult &)> done) {
  std::lock_guard<std::mutex> l(mu_);
  submitted_++;
  in_flight_++;
  if (in_flight_ > max_in_flight_) max_in_flight_ = in_flight_;
  queue_.push_back(Req{lun_index, write, lba, blocks, data, std::move(done)});
  cv_.notify_all();
}

void FakeBackend::execute(Req &r) {
  // Called with mu_ held.
  const LunGeometry &g = luns_[r.lun];
  IoResult res;
  res.ok = true;
  const size_t bs = g.block_size;
  if (!online_[r.lun]) {
    res.ok = false;
    res.kind = "incomplete";
    res.detail = "target gone";
  } else if (fail_ > 0) {
    fail_--;
    res.ok = false;
    res.kind = fail_kind_;
  } else if (r.write) {
    uint64_t lba = r.lba;
    if (misdirect_ > 0 && lba + r.blocks < g.blocks) {
      misdirect_--;
      lba++;
    }
    if (lose_writes_ > 0) {
      lose_writes_--;
    } else {
      std::memcpy(disks_[r.lun].data() + lba * bs, r.data, r.blocks * bs);
    }
  } else {
    std::memcpy(r.data, disks_[r.lun].data() + r.lba * bs, r.blocks * bs);
    if (corrupt_reads_ > 0) {
      corrupt_reads_--;
      r.data[100] ^= 0x40;
    }
  }
  r.done(res);
}

void FakeBackend::worker() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [this] { return quit_ || (!queue_.empty() && !hang_); });
    if (quit_) return;
    // Take a random queued request (out-of-order completion) or the oldest.
    size_t k = 0;
    if (reorder_ && queue_.size() > 1) {
      rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
      k = size_t((rng_ >> 33) % queue_.size());
    }
    Req r = std::move(queue_[k]);
    queue_.erase(queue_.begin() + long(k));
    in_flight_--;
    execute(r);
  }
}

std::string FakeBackend::run_event(const Event &ev) {
  std::lock_guard<std::mutex> l(mu_);
  events_.push_back(ev.text);
  for (size_t i = 0; i < luns_.size(); i++) {
    if (int64_t(luns_[i].target) != ev.target) continue;
    if (ev.kind == Event::Kind::kRemoveTarget) {
      online_[i] = false;
    } else if (ev.kind == Event::Kind::kAddTarget) {
      std::fill(disks_[i].begin(), disks_[i].end(), 0);
      online_[i] = true;
    }
  }
  if (ev.kind == Event::Kind::kFaultError) {
    fail_ += ev.count;
    fail_kind_ = "tran_err";
  }
  return "";
}

}  // namespace exerciser
