#include "io_engine.h"

#include <sys/kmem.h>
#include <sys/scsi/scsi.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "cdb.h"
#include "fk.h"

namespace driver_on_qemu {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct IoEngine::Io {
  IoEngine *eng;
  unsigned target;
  scsi_device *sd;
  bool write;
  uint64_t lba;
  uint32_t nblocks;
  uint32_t bs;
  uint32_t version;
  size_t len;
  uint8_t *buf = nullptr;
  scsi_pkt *pkt = nullptr;
  struct buf *bp = nullptr;
  int completions = 0;
  uchar_t reason = 0, status = 0;
  uint_t state = 0, statistics = 0;
  fk::client::Sense sense;
  Clock::time_point submitted;
  std::string describe() const {
    char b[160];
    snprintf(b, sizeof(b), "%s target %u lba %llu blocks %u (%zu bytes)", write ? "WRITE" : "READ",
             target, static_cast<unsigned long long>(lba), nblocks, len);
    return b;
  }
};

IoEngine::IoEngine(uint64_t seed) : rng_(seed), oracle_(512) {
  fk::scsa::register_target_driver(this);
}

IoEngine::~IoEngine() {
  if (!wait_idle(std::chrono::milliseconds(5000)))
    ADD_FAILURE() << "IoEngine destroyed with " << outstanding() << " packets outstanding";
  fk::scsa::unregister_target_driver(this);
}

void IoEngine::add_disk(const Disk &d) {
  std::lock_guard<std::mutex> g(mu_);
  DiskState &s = disks_[d.target];
  s.disk = d;
  s.online = true;
  // A disk of another geometry in the same place starts a new shadow.
  if (s.shadow == nullptr || s.shadow->blocks() != d.blocks ||
      s.shadow->block_size() != d.block_size) {
    s.shadow = std::make_unique<fk::client::ShadowDisk>(d.target, uint32_t(d.blocks), d.block_size);
  }
}

IoEngine::DiskState *IoEngine::find(unsigned target) {
  auto it = disks_.find(target);
  return it == disks_.end() ? nullptr : &it->second;
}

IoEngine::DiskState *IoEngine::find_sd(const scsi_device *sd) {
  for (auto &[t, d] : disks_)
    if (d.disk.sd == sd) return &d;
  return nullptr;
}

void IoEngine::lun_online(const fk::scsa::LunInfo &) {}

void IoEngine::lun_offline(const fk::scsa::LunInfo &lun) {
  std::unique_lock<std::mutex> g(mu_);
  DiskState *d = find_sd(lun.sd);
  if (d == nullptr) return;
  d->online = false;
  if (!cv_.wait_for(g, std::chrono::seconds(15), [d] { return d->inflight == 0; }))
    errors_.push_back("LUN " + lun.unit_address + " went offline with " +
                      std::to_string(d->inflight) + " packets never completed");
  d->disk.sd = nullptr;
}

void IoEngine::on_complete(scsi_pkt *pkt) {
  Io *io = *static_cast<Io **>(pkt->pkt_private);
  IoEngine *e = io->eng;
  {
    std::lock_guard<std::mutex> g(e->mu_);
    if (++io->completions > 1) {
      e->errors_.push_back("double completion: " + io->describe());
      return;
    }
    io->reason = pkt->pkt_reason;
    io->status = pkt->pkt_scbp[0] & STATUS_MASK;
    io->state = pkt->pkt_state;
    io->statistics = pkt->pkt_statistics;
    if (pkt->pkt_state & STATE_ARQ_DONE) {
      const auto *arq = reinterpret_cast<const struct scsi_arq_status *>(pkt->pkt_scbp);
      io->sense = fk::client::parse_sense(reinterpret_cast<const uint8_t *>(&arq->sts_sensedata),
                                          sizeof(arq->sts_sensedata));
    }
  }
  // As sd: the packet is freed in its completion, so a LUN can go offline right after.
  scsi_destroy_pkt(pkt);
  io->pkt = nullptr;
  freerbuf(io->bp);
  io->bp = nullptr;
  std::lock_guard<std::mutex> g(e->mu_);
  e->finish(io);
}

// mu_ held: the packet is back (completed or never transported).
void IoEngine::finish(Io *io) {
  if (DiskState *d = find(io->target)) {
    d->inflight--;
  }
  outstanding_.erase(io);
  done_.push_back(io);
  cv_.notify_all();
}

bool IoEngine::submit(unsigned target, bool write, uint64_t lba, uint32_t nblocks) {
  // Depth: wait for room, bounded by the time since the last completion.
  auto last = Clock::now();
  for (;;) {
    size_t n = reap();
    if (n > 0) last = Clock::now();
    {
      std::unique_lock<std::mutex> g(mu_);
      if (outstanding_.size() < depth_) break;
      cv_.wait_for(g, std::chrono::milliseconds(2));
    }
    if (Clock::now() - last > std::chrono::seconds(10)) {
      std::lock_guard<std::mutex> g(mu_);
      errors_.push_back("no completion for 10 s with " + std::to_string(outstanding_.size()) +
                        " outstanding (submit blocked)");
      return false;
    }
  }
  auto *io = new Io();
  io->eng = this;
  io->target = target;
  io->write = write;
  io->lba = lba;
  io->nblocks = nblocks;
  {
    std::lock_guard<std::mutex> g(mu_);
    DiskState *d = find(target);
    if (d == nullptr || !d->online || d->disk.sd == nullptr) {
      stats_.rejected++;
      delete io;
      return false;
    }
    d->inflight++;
    io->sd = d->disk.sd;
    io->bs = d->disk.block_size;
    io->len = size_t(nblocks) * io->bs;
    io->buf = static_cast<uint8_t *>(kmem_zalloc(io->len, KM_SLEEP));
    // The shadow claims the blocks until the completion is reaped, and makes a write's data.
    io->version = write ? d->shadow->begin_write(lba, nblocks, io->buf) : 0;
    if (!write) d->shadow->begin_read(lba, nblocks);
    outstanding_.insert(io);
  }
  io->bp = getrbuf(KM_SLEEP);
  io->bp->b_un.b_addr = reinterpret_cast<caddr_t>(io->buf);
  io->bp->b_bcount = io->len;
  io->bp->b_flags = write ? B_WRITE : B_READ;
  fk::client::Cdb cdb =
      write ? fk::client::cdb::write(lba, nblocks) : fk::client::cdb::read(lba, nblocks);
  io->pkt =
      scsi_init_pkt(&io->sd->sd_address, nullptr, io->bp, cdb.len,
                    int(sizeof(struct scsi_arq_status)), int(sizeof(Io *)), 0, SLEEP_FUNC, nullptr);
  auto undo = [&] {
    if (io->pkt != nullptr) scsi_destroy_pkt(io->pkt);
    io->pkt = nullptr;
    freerbuf(io->bp);
    io->bp = nullptr;
    std::lock_guard<std::mutex> g(mu_);
    stats_.rejected++;
    io->completions = -1;  // not transported: reap() only frees it
    finish(io);
  };
  if (io->pkt == nullptr) {
    undo();
    return false;
  }
  memcpy(io->pkt->pkt_cdbp, cdb.bytes, size_t(cdb.len));
  *static_cast<Io **>(io->pkt->pkt_private) = io;
  io->pkt->pkt_comp = on_complete;
  io->pkt->pkt_time = pkt_time_;
  io->pkt->pkt_flags = 0;
  auto busy_since = Clock::now();
  for (;;) {
    io->submitted = Clock::now();
    int rv = scsi_transport(io->pkt);
    if (rv == TRAN_ACCEPT) {
      std::lock_guard<std::mutex> g(mu_);
      stats_.submitted++;
      if (fk::va_to_pa(io->buf) >= (1ull << 32)) stats_.high_buffers++;
      stats_.max_outstanding =
          std::max<uint32_t>(stats_.max_outstanding, uint32_t(outstanding_.size()));
      return true;
    }
    if (rv != TRAN_BUSY || Clock::now() - busy_since > std::chrono::seconds(5)) {
      if (rv == TRAN_BUSY) {
        std::lock_guard<std::mutex> g(mu_);
        errors_.push_back("TRAN_BUSY for 5 s: " + io->describe());
      }
      undo();
      return false;
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      stats_.busy++;
    }
    if (busy_hook_) busy_hook_();
    (void)reap();
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

bool IoEngine::submit_random(unsigned target, uint32_t max_bytes, unsigned write_pct) {
  uint32_t bs;
  uint64_t blocks;
  {
    std::lock_guard<std::mutex> g(mu_);
    DiskState *d = find(target);
    if (d == nullptr || !d->online) return false;
    bs = d->disk.block_size;
    blocks = d->disk.blocks;
  }
  uint32_t max_blocks = std::max<uint32_t>(1, max_bytes / bs);
  uint32_t n;
  unsigned kind = unsigned(rng_() % 100);
  if (kind < 45)
    n = 1 + uint32_t(rng_() % std::min<uint32_t>(8, max_blocks));
  else if (kind < 80)
    n = 1 + uint32_t(rng_() % std::min<uint32_t>(std::max<uint32_t>(1, 65536 / bs), max_blocks));
  else if (kind < 92)
    n = 1 + uint32_t(rng_() % max_blocks);
  else
    n = max_blocks;  // the driver's maximum transfer
  bool write = rng_() % 100 < write_pct;
  for (int attempt = 0; attempt < 40; attempt++) {
    if (attempt == 20) n = 1;
    uint64_t lba = rng_() % (blocks - n + 1);
    bool clash;
    {
      std::lock_guard<std::mutex> g(mu_);
      DiskState *d = find(target);
      if (d == nullptr) return false;
      clash = !d->shadow->is_free(lba, n);
    }
    if (!clash) return submit(target, write, lba, n);
  }
  return true;  // the disk is crowded: nothing submitted this time
}

unsigned IoEngine::outstanding() const {
  std::lock_guard<std::mutex> g(mu_);
  return unsigned(outstanding_.size());
}

size_t IoEngine::reap() {
  std::deque<Io *> done;
  {
    std::lock_guard<std::mutex> g(mu_);
    done.swap(done_);
  }
  size_t n = 0;
  for (Io *io : done) {
    std::lock_guard<std::mutex> g(mu_);
    if (io->completions > 0) {
      n++;
      stats_.completed++;
      bool ok = io->reason == CMD_CMPLT && io->status == STATUS_GOOD;
      reasons_[io->reason]++;
      DiskState *d = find(io->target);
      const std::string &image = d->disk.image;
      uint64_t off = io->lba * io->bs;
      // Blocks never written through the engine start as zeros (a fresh sparse image).
      if (!image.empty())
        for (uint32_t i = 0; i < io->nblocks; i++)
          if (d->known.insert(io->lba + i).second)
            oracle_.expect_zero(image, off + uint64_t(i) * io->bs, io->bs);
      if (ok) {
        stats_.ok++;
        stats_.bytes += io->len;
        d->ok++;
      } else {
        stats_.failed++;
        d->failed++;
      }
      if (io->write) {
        d->shadow->end_write(io->lba, io->nblocks, io->version, ok, {});
        if (!image.empty()) {
          if (ok)
            oracle_.expect(image, off, io->buf, io->len);
          else
            oracle_.maybe(image, off, io->buf, io->len);
        }
      } else {
        // One block at a time: each block that matches no version allowed is an error.
        for (uint32_t i = 0; i < io->nblocks; i++) {
          const uint8_t *got = io->buf + size_t(i) * io->bs;
          if (d->shadow->end_read(io->lba + i, 1, got, ok, {}) != 0 && errors_.size() < 50)
            errors_.push_back("read " + d->shadow->last_failure());
        }
        if (ok) stats_.reads_checked += io->nblocks;
      }
    } else if (DiskState *d = find(io->target)) {
      d->shadow->cancel(io->lba, io->nblocks);  // never transported
    }
    kmem_free(io->buf, io->len);
    delete io;
  }
  return n;
}

bool IoEngine::wait_idle(std::chrono::milliseconds bound) {
  auto last = Clock::now();
  for (;;) {
    if (reap() > 0) last = Clock::now();
    {
      std::unique_lock<std::mutex> g(mu_);
      if (outstanding_.empty() && done_.empty()) return true;
      cv_.wait_for(g, std::chrono::milliseconds(5));
    }
    if (Clock::now() - last > bound) return false;
  }
}

std::vector<std::string> IoEngine::stuck() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::string> out;
  auto now = Clock::now();
  for (const Io *io : outstanding_) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - io->submitted).count();
    out.push_back(io->describe() + ", outstanding for " + std::to_string(ms) + " ms");
  }
  return out;
}

IoStats IoEngine::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

std::vector<std::string> IoEngine::errors() const {
  std::lock_guard<std::mutex> g(mu_);
  return errors_;
}

std::map<int, uint64_t> IoEngine::reasons() const {
  std::lock_guard<std::mutex> g(mu_);
  return reasons_;
}

uint64_t IoEngine::ok_for(unsigned target) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = disks_.find(target);
  return it == disks_.end() ? 0 : it->second.ok;
}

uint64_t IoEngine::failed_for(unsigned target) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = disks_.find(target);
  return it == disks_.end() ? 0 : it->second.failed;
}

}  // namespace driver_on_qemu
