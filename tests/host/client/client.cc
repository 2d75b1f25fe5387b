#include "client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "fk.h"
#include "scsa.h"

namespace fk::client {

struct Queue::Req {
  Queue *q;
  scsi_pkt *pkt = nullptr;
  struct buf *bp = nullptr;
  Cdb cdb;
  void *buf;
  size_t len;
  bool read;
  Callback cb;
  Result res;
  bool completed = false;  // pkt_comp ran for the current transport
  bool began = false;      // counted in the engine's in-flight count
};

// The client as the framework's target driver: which LUNs are online, and how many commands
// each has in flight, so an offline waits until the LUN is no longer used.
struct Engine : fk::scsa::TargetDriver {
  std::mutex mu;
  fk::impl::HostCv cv;
  struct State {
    LunRef ref;
    bool online = false;
    unsigned inflight = 0;
  };
  std::map<const scsi_device *, State> luns;

  void lun_online(const fk::scsa::LunInfo &l) override {
    std::lock_guard<std::mutex> g(mu);
    State &s = luns[l.sd];
    s.ref = LunRef{l.target, l.lun, l.unit_address, l.sd};
    s.online = true;
  }
  void lun_offline(const fk::scsa::LunInfo &l) override {
    std::unique_lock<std::mutex> g(mu);
    auto it = luns.find(l.sd);
    if (it == luns.end()) {
      return;
    }
    it->second.online = false;
    cv.wait(
        g, [&] { return it->second.inflight == 0; }, "a LUN's commands to finish");
    luns.erase(it);
  }
  bool begin(const scsi_device *sd) {
    std::lock_guard<std::mutex> g(mu);
    auto it = luns.find(sd);
    if (it == luns.end() || !it->second.online) {
      return false;
    }
    it->second.inflight++;
    return true;
  }
  void end(const scsi_device *sd) {
    std::lock_guard<std::mutex> g(mu);
    auto it = luns.find(sd);
    if (it != luns.end() && it->second.inflight > 0) {
      it->second.inflight--;
    }
    cv.notify_all();
  }
  bool is_online(const scsi_device *sd) {
    std::lock_guard<std::mutex> g(mu);
    auto it = luns.find(sd);
    return it != luns.end() && it->second.online;
  }
};

namespace {

Engine &engine() {
  static Engine *e = [] {
    auto *en = new Engine();
    fk::scsa::register_target_driver(en);
    return en;
  }();
  return *e;
}

// Register before any LUN can come online.
const bool kRegistered = (engine(), true);

// Releases a request's packet and buffer and its in-flight count.
void release(Queue::Req *r, scsi_device *sd) {
  if (r->pkt != nullptr) {
    scsi_destroy_pkt(r->pkt);
    r->pkt = nullptr;
  }
  if (r->bp != nullptr) {
    freerbuf(r->bp);
    r->bp = nullptr;
  }
  if (r->began) {
    r->began = false;
    engine().end(sd);
  }
}

using fk::scsa::StallWatch;

}  // namespace

// Completion context (scsi_hba_pkt_comp): record, decide on a retry, release, hand over.
struct Completer {
  static void on_complete(scsi_pkt *pkt);
  static void retry_timeout(void *arg);
};

namespace {
// sd's delays (sddef.h): SD_RESTART_TIMEOUT and SD_UA_RETRY_DELAY, 100 ms; a retry the HBA
// answered TRAN_BUSY waits 10 ms.
constexpr clock_t kRetryDelayUs = 100000;
constexpr clock_t kBusyDelayUs = 10000;

enum class Retry { kNo, kNow, kLater };

// The completed packet's outcome into the request's result.
void record_outcome(Result &res, const scsi_pkt *pkt) {
  res.transported = true;
  res.tran_rv = TRAN_ACCEPT;
  res.reason = pkt->pkt_reason;
  res.status = pkt->pkt_scbp[0] & STATUS_MASK;
  res.state = pkt->pkt_state;
  res.statistics = pkt->pkt_statistics;
  res.resid = pkt->pkt_resid > 0 ? static_cast<size_t>(pkt->pkt_resid) : 0;
  res.sense = Sense{};
  if (pkt->pkt_state & STATE_ARQ_DONE) {
    const auto *arq = reinterpret_cast<const struct scsi_arq_status *>(pkt->pkt_scbp);
    res.sense = parse_sense(reinterpret_cast<const uint8_t *>(&arq->sts_sensedata),
                            sizeof(arq->sts_sensedata));
  }
}

// sdintr's dispatch on pkt_reason and status (sd.c): whether and when to retry (counted in res),
// and whether the error calls for a target reset (*reset).
Retry choose_retry(Result &res, const IoOptions &o, bool *reset) {
  Retry retry = Retry::kNo;
  *reset = false;
  if (res.reason == CMD_CMPLT) {
    bool check = res.status == STATUS_CHECK && res.sense.valid;
    if (check && res.sense.key == KEY_UNIT_ATTENTION && res.ua_retries < o.max_ua_retries) {
      res.ua_retries++;
      retry = Retry::kLater;  // sd_sense_key_unit_attention: SD_UA_RETRY_DELAY
    } else if (check &&
               (res.sense.key == KEY_MEDIUM_ERROR || res.sense.key == KEY_HARDWARE_ERROR) &&
               res.retries < o.retry_count) {
      res.retries++;
      retry = Retry::kNow;  // sd_sense_key_medium_or_hardware_error: no delay
    }
  } else if (res.reason == CMD_RESET || res.reason == CMD_ABORTED) {
    // sd_pkt_reason_cmd_reset / _aborted: likely another command's recovery hit this one.
    *reset = true;
    if (res.victim_retries < 2 * o.retry_count) {
      res.victim_retries++;
      res.retries++;
      retry = Retry::kLater;
    }
  } else if (res.reason != CMD_DEV_GONE) {
    // sd_pkt_reason_cmd_timeout, _incomplete, _tran_err, _default: the command's own failure.
    // (No reset when selection did not complete: the state is just GOT_BUS.)
    *reset = res.reason == CMD_TIMEOUT || res.state != STATE_GOT_BUS;
    if (res.retries - res.victim_retries < o.retry_count) {
      res.retries++;
      retry = Retry::kLater;
    }
  }
  return retry;
}

// sd_reset_target: not when the HBA reset or aborted the command already.
void reset_after_error(scsi_pkt *pkt, Result &res, const IoOptions &o) {
  if (o.reset_on_error &&
      (pkt->pkt_statistics & (STAT_BUS_RESET | STAT_DEV_RESET | STAT_ABORTED)) == 0) {
    res.resets++;
    if (scsi_reset(&pkt->pkt_address, RESET_TARGET) == 0) {
      (void)scsi_reset(&pkt->pkt_address, RESET_ALL);
    }
  }
}

}  // namespace

KBuf::KBuf(size_t len)
    : p_(static_cast<uint8_t *>(kmem_zalloc(len > 0 ? len : 1, KM_SLEEP))), len_(len) {}
KBuf::~KBuf() { kmem_free(p_, len_ > 0 ? len_ : 1); }

std::string Result::describe() const {
  char buf[256];
  snprintf(buf, sizeof(buf),
           "tran %d%s reason %u status 0x%02x state 0x%x stat 0x%x sense %x/%02x/%02x resid %zu "
           "busy-retries %u ua-retries %u retries %u (victim %u) resets %u%s",
           tran_rv, transported ? "" : " (not transported)", reason, status, state, statistics,
           sense.key, sense.asc, sense.ascq, resid, busy_retries, ua_retries, retries,
           victim_retries, resets, lun_gone ? " lun-gone" : "");
  return buf;
}

bool settle(int64_t max_real_ms) {
  (void)kRegistered;
  return fk::scsa::settle(max_real_ms);
}

std::vector<LunRef> discover(dev_info_t *hba_dip) {
  (void)engine();
  (void)fk::scsa::config_iports(hba_dip);
  (void)settle();
  std::vector<LunRef> out;
  for (const fk::scsa::LunInfo &l : fk::scsa::luns(hba_dip)) {
    if (online(l.sd)) {
      out.push_back(LunRef{l.target, l.lun, l.unit_address, l.sd});
    }
  }
  return out;
}

std::vector<LunRef> online_luns() {
  Engine &e = engine();
  std::lock_guard<std::mutex> g(e.mu);
  std::vector<LunRef> out;
  for (auto &[sd, s] : e.luns) {
    if (s.online) {
      out.push_back(s.ref);
    }
  }
  std::sort(out.begin(), out.end(), [](const LunRef &a, const LunRef &b) {
    return a.target != b.target ? a.target < b.target : a.lun < b.lun;
  });
  return out;
}

bool online(const scsi_device *sd) { return engine().is_online(sd); }

LunHold::LunHold(const scsi_device *sd) : sd_(sd), held_(engine().begin(sd)) {}

LunHold::~LunHold() {
  if (held_) engine().end(sd_);
}

void Completer::on_complete(scsi_pkt *pkt) {
  auto *r = *static_cast<Queue::Req **>(pkt->pkt_private);
  Queue *q = r->q;
  const IoOptions &o = q->opts_;
  r->completed = true;
  Result &res = r->res;
  record_outcome(res, pkt);
  bool reset;
  Retry retry = choose_retry(res, o, &reset);
  if (reset) {
    reset_after_error(pkt, res, o);
  }
  if (retry != Retry::kNo && !engine().is_online(q->sd_)) {
    res.lun_gone = true;
    retry = Retry::kNo;
  }
  if (retry == Retry::kNow && q->resend(r)) {
    return;
  }
  if (retry == Retry::kLater) {
    q->retry_later(r, kRetryDelayUs);
    return;
  }
  q->finish(r);
}

// A delayed retry (sd_start_retry_command, a timeout(9F)): the same packet again.
void Completer::retry_timeout(void *arg) {
  auto *r = static_cast<Queue::Req *>(arg);
  Queue *q = r->q;
  if (!engine().is_online(q->sd_)) {
    r->res.lun_gone = true;
    q->finish(r);
    return;
  }
  if (!q->resend(r)) {
    q->finish(r);
  }
}

// Transports a request's packet again; false when the HBA refused it (the request is then
// finished by the caller). A busy HBA is tried again shortly.
bool Queue::resend(Req *r) {
  scsi_pkt *pkt = r->pkt;
  r->completed = false;
  if (pkt->pkt_scbp != nullptr) {
    pkt->pkt_scbp[0] = 0;
  }
  pkt->pkt_state = 0;
  pkt->pkt_statistics = 0;
  pkt->pkt_reason = CMD_CMPLT;
  pkt->pkt_resid = 0;
  // Once an interrupt-driven packet is accepted it may complete, finish and let the queue go
  // before scsi_transport returns: read what is needed first, touch neither afterwards.
  bool polled = opts_.polled;
  int rv = scsi_transport(pkt);
  if (rv == TRAN_ACCEPT) {
    if (polled && !r->completed) {
      Completer::on_complete(pkt);  // FLAG_NOINTR: done on return, no callback
    }
    return true;
  }
  r->res.tran_rv = rv;
  if (rv == TRAN_BUSY && r->res.busy_retries < opts_.max_busy_retries) {
    r->res.busy_retries++;
    retry_later(r, kBusyDelayUs);
    return true;
  }
  r->res.transported = false;
  return false;
}

// The same packet again after sd's delay: from a timeout(9F) on the virtual clock - or, for a
// caller that moves the clock itself (drive_clock false), from its next poll() or wait, as a
// command answered TRAN_BUSY: nobody may be moving the clock while that caller waits.
void Queue::retry_later(Req *r, clock_t delay_us) {
  if (opts_.drive_clock) {
    (void)timeout(Completer::retry_timeout, r, drv_usectohz(delay_us));
    return;
  }
  std::lock_guard<std::mutex> g(mu_);
  busy_.push_back(r);
  cv_.notify_all();  // a waiter (pump_once) transports it again
}

// The request is done: its packet and buffer go, and it waits for the submitting thread.
void Queue::finish(Req *r) {
  release(r, sd_);
  std::lock_guard<std::mutex> g(mu_);
  done_.push_back(r);
  cv_.notify_all();
}

Queue::Queue(scsi_device *sd, unsigned depth, const IoOptions &o)
    : sd_(sd), depth_(depth > 0 ? depth : 1), opts_(o) {
  (void)engine();
  max_xfer_ = o.max_xfer;
  if (max_xfer_ == 0 && engine().is_online(sd)) {
    int cap = scsi_ifgetcap(&sd->sd_address, const_cast<char *>("dma-max"), 1);
    max_xfer_ = cap > 0 ? static_cast<size_t>(cap) : size_t{1} << 20;
  }
  if (max_xfer_ == 0) {
    max_xfer_ = size_t{1} << 20;
  }
}

Queue::~Queue() { wait(); }

unsigned Queue::outstanding() const {
  std::lock_guard<std::mutex> g(mu_);
  return outstanding_;
}

void Queue::submit(const Cdb &cdb, void *buf, size_t len, bool read, Callback cb) {
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (outstanding_ < depth_) {
        outstanding_++;
        submitted_++;
        max_outstanding_ = std::max(max_outstanding_, outstanding_);
        break;
      }
    }
    pump_once();
  }
  auto *r = new Req{this, nullptr, nullptr, cdb, buf, len, read, std::move(cb), Result{}};
  launch(r);
}

// Allocates the request's packet and starts it; failures complete the request at once.
void Queue::launch(Req *r) {
  auto fail = [&](int rv, bool gone) {
    r->res.tran_rv = rv;
    r->res.lun_gone = gone;
    r->res.transported = false;
    release(r, sd_);
    std::lock_guard<std::mutex> g(mu_);
    done_.push_back(r);
  };
  if (!engine().begin(sd_)) {
    fail(TRAN_FATAL_ERROR, true);
    return;
  }
  r->began = true;
  if (r->len > 0) {
    r->bp = getrbuf(KM_SLEEP);
    r->bp->b_un.b_addr = static_cast<caddr_t>(r->buf);
    r->bp->b_bcount = r->len;
    r->bp->b_flags = r->read ? B_READ : B_WRITE;
  }
  r->pkt = scsi_init_pkt(&sd_->sd_address, nullptr, r->bp, r->cdb.len,
                         static_cast<int>(sizeof(struct scsi_arq_status)),
                         static_cast<int>(sizeof(Req *)), opts_.partial_dma ? PKT_DMA_PARTIAL : 0,
                         SLEEP_FUNC, nullptr);
  if (r->pkt == nullptr) {
    fail(TRAN_BADPKT, false);
    return;
  }
  memcpy(r->pkt->pkt_cdbp, r->cdb.bytes, static_cast<size_t>(r->cdb.len));
  *static_cast<Req **>(r->pkt->pkt_private) = r;
  r->pkt->pkt_comp = Completer::on_complete;
  r->pkt->pkt_time = opts_.timeout_s;
  r->pkt->pkt_flags = opts_.flags | (opts_.polled ? FLAG_NOINTR : 0);
  start(r);
}

void Queue::start(Req *r) {
  StallWatch busy_watch;
  for (;;) {
    r->completed = false;
    if (r->pkt->pkt_scbp != nullptr) {
      r->pkt->pkt_scbp[0] = 0;
    }
    r->pkt->pkt_state = 0;
    r->pkt->pkt_statistics = 0;
    r->pkt->pkt_reason = CMD_CMPLT;
    int rv = scsi_transport(r->pkt);
    if (rv == TRAN_ACCEPT) {
      if (opts_.polled && !r->completed) {
        Completer::on_complete(r->pkt);  // polled, and the HBA did not call pkt_comp
      }
      return;
    }
    r->res.tran_rv = rv;
    if (rv != TRAN_BUSY || r->res.busy_retries >= opts_.max_busy_retries) {
      release(r, sd_);
      std::lock_guard<std::mutex> g(mu_);
      done_.push_back(r);
      return;
    }
    // TRAN_BUSY: as sd, try again once something completes; with nothing outstanding, after
    // letting the rest of the system run. A caller that moves the clock itself gets control
    // back (the HBA may need time - its watchdog - to make room): poll() tries again.
    r->res.busy_retries++;
    if (!opts_.drive_clock) {
      std::lock_guard<std::mutex> g(mu_);
      busy_.push_back(r);
      return;
    }
    bool others;
    {
      std::lock_guard<std::mutex> g(mu_);
      others = outstanding_ > 1 && done_.empty();
    }
    if (others) {
      pump_once();
    } else {
      // Nothing of ours to wait for: let the HBA make room in real time, and move the
      // virtual clock if it stays stuck (it may be waiting for a timer, e.g. a reset).
      fk::scsa::stall_pause(20);
      (void)busy_watch.step();
    }
  }
}

size_t Queue::waiting_retry() const {
  std::lock_guard<std::mutex> g(mu_);
  return busy_.size();
}

void Queue::deliver(Req *r) {
  Callback cb = std::move(r->cb);
  Result res = r->res;
  delete r;
  {
    std::lock_guard<std::mutex> g(mu_);
    outstanding_--;
    completed_++;
  }
  if (cb) {
    cb(res);
  }
}

// Each command that was answered TRAN_BUSY is transported once more.
void Queue::retry_busy() {
  std::deque<Req *> busy;
  {
    std::lock_guard<std::mutex> g(mu_);
    busy.swap(busy_);
  }
  for (Req *r : busy) {
    start(r);
  }
}

bool Queue::pump_once() {
  Req *r = nullptr;
  {
    std::unique_lock<std::mutex> g(mu_);
    StallWatch watch;
    while (done_.empty()) {
      if (outstanding_ == 0) {
        return false;
      }
      if (!busy_.empty()) {
        g.unlock();
        retry_busy();
        g.lock();
        if (!done_.empty()) {
          break;
        }
      }
      if (fk::impl::on_det() && !busy_.empty()) {
        // Commands the HBA turned away wait for a retry, not for a completion: let the rest of
        // the system run (and time move if nothing does), then retry.
        g.unlock();
        (void)watch.step();
        g.lock();
        continue;
      }
      if (cv_.wait_for_us(g, 200, "a completion") && !done_.empty()) {
        break;
      }
      if (opts_.drive_clock) {
        // Nothing finished and nothing moved: the command waits on the virtual clock (a device
        // latency, a retry delay).
        g.unlock();
        (void)watch.step();
        g.lock();
      }
    }
    r = done_.front();
    done_.pop_front();
  }
  deliver(r);
  return true;
}

size_t Queue::poll() {
  retry_busy();
  size_t n = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (done_.empty()) {
        return n;
      }
    }
    pump_once();
    n++;
  }
}

void Queue::wait() {
  while (pump_once()) {
  }
}

void Queue::rw(bool read, uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf,
               Callback cb) {
  uint32_t per = static_cast<uint32_t>(std::min<size_t>(
      std::max<size_t>(max_xfer_ / std::max<uint32_t>(block_size, 1), 1), 0xFFFFFFFFu));
  if (nblocks <= per) {
    Cdb c = read ? cdb::read(lba, nblocks) : cdb::write(lba, nblocks);
    submit(c, buf, size_t{nblocks} * block_size, read, std::move(cb));
    return;
  }
  // Split: one aggregate result, delivered when the last piece completes.
  struct Agg {
    unsigned left;
    Result res;
    bool failed = false;
    Callback cb;
  };
  auto agg = std::make_shared<Agg>();
  agg->left = (nblocks + per - 1) / per;
  agg->cb = std::move(cb);
  auto *p = static_cast<uint8_t *>(buf);
  for (uint32_t done = 0; done < nblocks;) {
    uint32_t n = std::min(per, nblocks - done);
    Cdb c = read ? cdb::read(lba + done, n) : cdb::write(lba + done, n);
    submit(c, p + size_t{done} * block_size, size_t{n} * block_size, read, [agg](const Result &r) {
      size_t resid = agg->res.resid + r.resid;
      if (!agg->failed) {
        agg->failed = !r.ok();
        agg->res = r;
      }
      agg->res.resid = resid;
      if (--agg->left == 0 && agg->cb) {
        agg->cb(agg->res);
      }
    });
    done += n;
  }
}

void Queue::read(uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf, Callback cb) {
  rw(true, lba, nblocks, block_size, buf, std::move(cb));
}

void Queue::write(uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf, Callback cb) {
  rw(false, lba, nblocks, block_size, buf, std::move(cb));
}

Result command(scsi_device *sd, const Cdb &c, void *buf, size_t len, bool read,
               const IoOptions &o) {
  Result out;
  Queue q(sd, 1, o);
  q.submit(c, buf, len, read, [&](const Result &r) { out = r; });
  q.wait();
  return out;
}

Result test_unit_ready(scsi_device *sd, const IoOptions &o) {
  return command(sd, cdb::test_unit_ready(), nullptr, 0, true, o);
}

Result inquiry(scsi_device *sd, Inquiry *out, const IoOptions &o) {
  KBuf b(96);
  Result r = command(sd, cdb::inquiry(96), b.data(), b.size(), true, o);
  std::string err;
  if (r.ok() && !parse_inquiry(b.data(), b.size() - std::min(r.resid, b.size()), out, &err)) {
    r.status = 0xff;  // not ok: malformed data
  }
  return r;
}

Result read_capacity(scsi_device *sd, uint64_t *blocks, uint32_t *block_size, const IoOptions &o) {
  KBuf b(32);
  Result r = command(sd, cdb::read_capacity16(32), b.data(), b.size(), true, o);
  std::string err;
  if (r.ok() && !parse_read_capacity16(b.data(), b.size() - std::min(r.resid, b.size()), blocks,
                                       block_size, &err)) {
    r.status = 0xff;
  }
  return r;
}

Result read(scsi_device *sd, uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf,
            const IoOptions &o) {
  Result out;
  Queue q(sd, 1, o);
  q.read(lba, nblocks, block_size, buf, [&](const Result &r) { out = r; });
  q.wait();
  return out;
}

Result write(scsi_device *sd, uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf,
             const IoOptions &o) {
  Result out;
  Queue q(sd, 1, o);
  q.write(lba, nblocks, block_size, buf, [&](const Result &r) { out = r; });
  q.wait();
  return out;
}

Result synchronize_cache(scsi_device *sd, const IoOptions &o) {
  return command(sd, cdb::synchronize_cache10(), nullptr, 0, false, o);
}

}  // namespace fk::client
