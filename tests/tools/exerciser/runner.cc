#include "runner.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

namespace exerciser {

namespace {

using Clock = std::chrono::steady_clock;

struct InFlight {
  Op op;
  uint64_t write_seq = 0;
  std::vector<uint8_t> buf;
  Clock::time_point start;
  Clock::time_point end;
  uint64_t epoch = 0;       // disruptive events started before submission
  uint64_t done_epoch = 0;  // ... before completion
  bool final_check = false;
  IoResult result;
};

class Engine {
 public:
  Engine(Backend &b, const RunConfig &c, Report *r)
      : backend_(b), cfg_(c), report_(r), expected_(c.luns, c.workload.seed, c.initially_zero) {}

  bool run();

 private:
  bool conflicts(const Op &op) const;
  void submit(const Op &op, uint64_t write_seq, bool final_check);
  // Waits for at least one completion (bounded) and processes what has completed; false when
  // the wait timed out.
  bool reap();
  void process(InFlight *f);
  void verify_read(const InFlight &f);
  void note_error(const InFlight &f);
  void run_event(const Event &ev);
  bool drain();
  void sample(std::vector<std::string> *v, const std::string &s) {
    if (v->size() < cfg_.max_samples) v->push_back(s);
  }

  Backend &backend_;
  const RunConfig &cfg_;
  Report *report_;
  ExpectedContent expected_;
  LatencyStats latency_;

  std::list<std::unique_ptr<InFlight>> inflight_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InFlight *> completed_;  // guarded by mu_
  uint64_t epoch_ = 0;                // guarded by mu_

  struct FaultBudget {
    int64_t target;
    uint64_t remaining;
  };
  std::vector<FaultBudget> budgets_;
};

bool Engine::conflicts(const Op &op) const {
  for (const auto &f : inflight_) {
    const Op &o = f->op;
    if (o.lun_index != op.lun_index) continue;
    if (!o.write && !op.write) continue;  // two reads may overlap
    if (o.lba < op.lba + op.blocks && op.lba < o.lba + o.blocks) return true;
  }
  return false;
}

void Engine::submit(const Op &op, uint64_t write_seq, bool final_check) {
  const LunGeometry &g = cfg_.luns[op.lun_index];
  auto f = std::make_unique<InFlight>();
  f->op = op;
  f->write_seq = write_seq;
  f->final_check = final_check;
  f->buf.resize(size_t(op.blocks) * g.block_size);
  if (op.write) {
    for (uint32_t i = 0; i < op.blocks; i++) {
      StampId id;
      id.target = g.target;
      id.lun = g.lun;
      id.lba = op.lba + i;
      id.write_seq = write_seq;
      id.seed = cfg_.workload.seed;
      stamp_block(f->buf.data() + size_t(i) * g.block_size, g.block_size, id);
    }
  }
  InFlight *raw = f.get();
  {
    std::lock_guard<std::mutex> l(mu_);
    raw->epoch = epoch_;
  }
  inflight_.push_back(std::move(f));
  raw->start = Clock::now();
  backend_.submit(op.lun_index, op.write, op.lba, op.blocks, raw->buf.data(),
                  [this, raw](const IoResult &res) {
                    const auto end = Clock::now();
                    std::lock_guard<std::mutex> l(mu_);
                    raw->end = end;
                    raw->result = res;
                    raw->done_epoch = epoch_;
                    completed_.push_back(raw);
                    cv_.notify_all();
                  });
}

bool Engine::reap() {
  std::deque<InFlight *> batch;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(cfg_.hang_timeout_s));
  while (true) {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (!completed_.empty()) {
        batch.swap(completed_);
        break;
      }
    }
    if (Clock::now() >= deadline) return false;
    backend_.pump(std::chrono::milliseconds(20));
    if (backend_.callbacks_in_pump()) continue;
    std::unique_lock<std::mutex> l(mu_);
    // host-sleep: only for a backend whose callbacks run on threads of its own (the unit tests'
    // fake); the kernel backend's run inside pump().
    cv_.wait_for(l, std::chrono::milliseconds(20), [this] { return !completed_.empty(); });
  }
  for (InFlight *f : batch) {
    process(f);
    inflight_.remove_if([f](const std::unique_ptr<InFlight> &p) { return p.get() == f; });
  }
  return true;
}

void Engine::note_error(const InFlight &f) {
  const LunGeometry &g = cfg_.luns[f.op.lun_index];
  const std::string what = std::string(f.op.write ? "write" : "read") + " target " +
                           std::to_string(g.target) + " lun " + std::to_string(g.lun) + " lba " +
                           std::to_string(f.op.lba) + " x" + std::to_string(f.op.blocks) + ": " +
                           f.result.kind +
                           (f.result.detail.empty() ? "" : " (" + f.result.detail + ")");
  report_->errors[f.result.kind]++;
  bool explained = f.done_epoch > f.epoch;  // a disruptive event began while it was in flight
  if (!explained) {
    for (auto &b : budgets_) {
      if (b.remaining > 0 && (b.target < 0 || b.target == int64_t(g.target))) {
        b.remaining--;
        explained = true;
        break;
      }
    }
  }
  if (explained) {
    report_->errors_explained++;
  } else {
    report_->errors_unexplained++;
    sample(&report_->error_samples, what);
  }
}

void Engine::verify_read(const InFlight &f) {
  const LunGeometry &g = cfg_.luns[f.op.lun_index];
  for (uint32_t i = 0; i < f.op.blocks; i++) {
    const Expectation e = expected_.expect(f.op.lun_index, f.op.lba + i);
    if (e.kind == Expectation::Kind::kUnknown) continue;
    std::string err = verify_block(f.buf.data() + size_t(i) * g.block_size, g.block_size, e);
    report_->verified_blocks++;
    if (f.final_check) report_->final_check_blocks++;
    if (!err.empty()) {
      report_->verify_failures++;
      if (e.kind == Expectation::Kind::kZeros)
        err = "target " + std::to_string(g.target) + " lun " + std::to_string(g.lun) + " lba " +
              std::to_string(f.op.lba + i) + ": " + err;
      sample(&report_->verify_samples, err);
    }
  }
}

void Engine::process(InFlight *f) {
  const LunGeometry &g = cfg_.luns[f->op.lun_index];
  if (!f->final_check) {
    latency_.add(
        uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(f->end - f->start).count()));
    report_->ios++;
    (f->op.write ? report_->writes : report_->reads)++;
  }
  if (f->result.ok) {
    if (!f->final_check) report_->bytes += uint64_t(f->op.blocks) * g.block_size;
    if (f->op.write)
      expected_.record_write(f->op.lun_index, f->op.lba, f->op.blocks, f->write_seq);
    else if (cfg_.verify)
      verify_read(*f);
    return;
  }
  note_error(*f);
  // A failed write may or may not have reached the disk.
  if (f->op.write) expected_.mark_unknown(f->op.lun_index, f->op.lba, f->op.blocks);
}

void Engine::run_event(const Event &ev) {
  EventRecord rec;
  rec.at = ev.at;
  rec.action = ev.text;
  const bool disruptive = !ev.injects_errors();
  if (disruptive) {
    std::lock_guard<std::mutex> l(mu_);
    epoch_++;
  }
  if (ev.injects_errors()) budgets_.push_back({ev.target, ev.count});
  const auto t0 = Clock::now();
  rec.detail = backend_.run_event(ev);
  rec.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  rec.ok = rec.detail.empty();
  if (rec.ok && ev.kind == Event::Kind::kAddTarget) {
    // The target's LUNs are back: blank on the mock, their old contents on a QEMU image. Writes
    // that failed meanwhile are already unknown in the model.
    for (size_t i = 0; i < cfg_.luns.size(); i++) {
      if (int64_t(cfg_.luns[i].target) == ev.target && backend_.readded_disks_blank())
        expected_.reset(i, true);
    }
  }
  report_->events.push_back(rec);
}

bool Engine::drain() {
  while (!inflight_.empty()) {
    if (!reap()) return false;
  }
  return true;
}

bool Engine::run() {
  Generator gen(cfg_.workload, cfg_.luns);
  EventSchedule schedule(cfg_.events);
  const auto t0 = Clock::now();
  uint64_t generated = 0, write_seq = 0;
  bool have_op = false;
  Op op;
  uint64_t op_seq = 0;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  auto more = [&] { return cfg_.seconds > 0 ? elapsed() < cfg_.seconds : generated < cfg_.ops; };
  auto progress = [&] {
    if (!cfg_.progress) return;
    const double frac =
        cfg_.seconds > 0 ? elapsed() / cfg_.seconds : double(report_->ios) / double(cfg_.ops);
    cfg_.progress(frac, std::to_string(report_->ios) + " I/Os, " +
                            std::to_string(report_->verify_failures) + " verify failures");
  };

  while (true) {
    if (!have_op) {
      for (const Event &ev : schedule.due(generated)) {
        run_event(ev);
      }
      if (!more()) break;
      op = gen.next();
      generated++;
      op_seq = op.write ? ++write_seq : 0;
      have_op = true;
      if (!backend_.lun_online(op.lun_index)) {
        report_->skipped++;
        have_op = false;
        continue;
      }
    }
    if (inflight_.size() >= cfg_.qd || conflicts(op)) {
      if (!reap()) return false;
      progress();
      continue;
    }
    submit(op, op_seq, false);
    have_op = false;
    // Take what has completed without waiting.
    backend_.pump(std::chrono::milliseconds(0));
    bool any;
    {
      std::lock_guard<std::mutex> l(mu_);
      any = !completed_.empty();
    }
    if (any && !reap()) return false;
    progress();
  }
  if (!drain()) return false;
  report_->elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (cfg_.on_workload_end) cfg_.on_workload_end();
  for (const Event &ev : schedule.remaining()) {
    EventRecord rec;
    rec.at = ev.at;
    rec.action = ev.text;
    rec.ok = false;
    rec.detail = "not reached (the run ended first)";
    report_->events.push_back(rec);
  }

  if (cfg_.verify && cfg_.final_check) {
    // Read back every block with a known stamp, in runs of up to 64 KiB.
    for (size_t i = 0; i < cfg_.luns.size(); i++) {
      if (!backend_.lun_online(i)) continue;
      const uint32_t max_blocks = std::max<uint32_t>(1, 65536 / cfg_.luns[i].block_size);
      std::vector<uint64_t> blocks = expected_.written_blocks(i);
      size_t k = 0;
      while (k < blocks.size()) {
        Op r;
        r.lun_index = i;
        r.lba = blocks[k];
        r.blocks = 1;
        r.write = false;
        while (k + r.blocks < blocks.size() && blocks[k + r.blocks] == r.lba + r.blocks &&
               r.blocks < max_blocks)
          r.blocks++;
        k += r.blocks;
        while (inflight_.size() >= cfg_.qd) {
          if (!reap()) return false;
        }
        submit(r, 0, true);
      }
    }
    if (!drain()) return false;
  }

  report_->iops = report_->elapsed_s > 0 ? double(report_->ios) / report_->elapsed_s : 0;
  report_->mbps = report_->elapsed_s > 0 ? double(report_->bytes) / 1e6 / report_->elapsed_s : 0;
  report_->p50_us = latency_.percentile(50) / 1000;
  report_->p99_us = latency_.percentile(99) / 1000;
  report_->max_us = latency_.max() / 1000;
  report_->mean_us = latency_.mean() / 1000;
  if (cfg_.progress) cfg_.progress(1.0, std::to_string(report_->ios) + " I/Os");
  return true;
}

}  // namespace

bool run_workload(Backend &backend, const RunConfig &config, Report *report) {
  for (const auto &k : error_kinds()) report->errors.emplace(k, 0);
  auto *engine = new Engine(backend, config, report);
  const bool ok = engine->run();
  if (ok) {
    delete engine;
  } else {
    // Completions may still arrive for the hung I/O: keep the engine (and the buffers the
    // device may still write) alive; the process is about to exit anyway. Kept reachable from a
    // global so LeakSanitizer does not report what is deliberately never freed.
    static auto *hung_engines = new std::vector<Engine *>;  // never destroyed
    hung_engines->push_back(engine);
    report->io_hung = true;
  }
  return ok;
}

}  // namespace exerciser
