// The target map's settle logic, apart from threads and clocks so it can be tested on its own:
// the HBA's reports go in with the time they were made, and expire(now) says which targets to
// activate or deactivate. Semantics of scsi_hba_tgtmap_create(9F):
//  - SCSI_TM_FULLSET: the HBA reports the complete set (set_begin, set_add..., set_end). A set
//    is acted on once no new set has been reported for the settle time: addresses new to the
//    active set are activated, active addresses missing from it are deactivated. set_flush
//    abandons a set in progress.
//  - SCSI_TM_PERADDR: the HBA reports each address (tgt_add, tgt_remove). Each report restarts
//    that address's settle timer; when it expires, the last report wins. An add and a remove
//    within one settle time cancel out.
// Host-side test infrastructure (C++ standard library allowed).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fk::scsa {

class TgtMapState {
 public:
  enum class Mode { kFullSet, kPerAddr };
  struct Action {
    enum class Kind { kActivate, kDeactivate } kind;
    std::string addr;
    int type;    // scsi_tgtmap_tgt_type_t
    void *priv;  // tgt_priv from the report (activate) or from activation (deactivate)
  };

  TgtMapState(Mode mode, int64_t settle_ns) : mode_(mode), settle_ns_(settle_ns) {}

  // Each returns true on success, false when the call does not fit the mode or the sequence.
  bool set_begin();
  bool set_add(const std::string &addr, int type, void *priv);
  bool set_end(int64_t now_ns);
  bool set_flush();
  bool tgt_add(const std::string &addr, int type, void *priv, int64_t now_ns);
  bool tgt_remove(const std::string &addr, int type, int64_t now_ns);

  // When expire() next has something to do; -1 when nothing is pending.
  int64_t next_deadline() const;
  // The activations and deactivations due at now_ns (deactivations first). Activated
  // addresses enter the active set at once; call set_priv() with what the activate callback
  // returned.
  std::vector<Action> expire(int64_t now_ns);
  // Deactivate everything (map destruction).
  std::vector<Action> drain();

  void set_priv(const std::string &addr, void *priv);
  // An activated address whose configuration failed leaves the active set (damap's
  // dam_deact_cleanup): it is activated again only when reported again.
  void drop(const std::string &addr) { active_.erase(addr); }
  bool active(const std::string &addr) const { return active_.count(addr) != 0; }
  std::vector<std::string> active_addrs() const;
  bool pending() const { return next_deadline() >= 0 || in_set_; }
  Mode mode() const { return mode_; }

 private:
  struct Entry {
    int type;
    void *priv;
  };
  struct PerAddr {
    bool present;
    int type;
    void *priv;
    int64_t deadline;
  };

  Mode mode_;
  int64_t settle_ns_;
  std::map<std::string, Entry> active_;
  // full-set mode
  bool in_set_ = false;
  std::map<std::string, Entry> building_;
  bool have_reported_ = false;
  std::map<std::string, Entry> reported_;
  int64_t set_deadline_ = -1;
  // per-address mode
  std::map<std::string, PerAddr> peraddr_;
};

}  // namespace fk::scsa
