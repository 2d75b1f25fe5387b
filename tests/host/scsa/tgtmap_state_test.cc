// The target map's settle logic on its own, with time passed in.
#include <gtest/gtest.h>

#include "tgtmap_state.h"

namespace fk::scsa {
namespace {

using Kind = TgtMapState::Action::Kind;
constexpr int64_t kSettle = 100'000'000;  // 100 ms

std::vector<std::string> names(const std::vector<TgtMapState::Action> &acts, Kind k) {
  std::vector<std::string> out;
  for (const auto &a : acts) {
    if (a.kind == k) {
      out.push_back(a.addr);
    }
  }
  return out;
}

TEST(TgtMapPerAddr, AddActivatesOnlyAfterSettle) {
  TgtMapState m(TgtMapState::Mode::kPerAddr, kSettle);
  ASSERT_TRUE(m.tgt_add("w1", 0, nullptr, 1000));
  EXPECT_EQ(m.next_deadline(), 1000 + kSettle);
  EXPECT_TRUE(m.expire(1000 + kSettle - 1).empty());
  EXPECT_FALSE(m.active("w1"));
  auto acts = m.expire(1000 + kSettle);
  EXPECT_EQ(names(acts, Kind::kActivate), std::vector<std::string>{"w1"});
  EXPECT_TRUE(m.active("w1"));
  EXPECT_EQ(m.next_deadline(), -1);
}

TEST(TgtMapPerAddr, RepeatedReportRestartsSettle) {
  TgtMapState m(TgtMapState::Mode::kPerAddr, kSettle);
  m.tgt_add("w1", 0, nullptr, 0);
  m.tgt_add("w1", 0, nullptr, kSettle / 2);
  EXPECT_TRUE(m.expire(kSettle).empty());
  EXPECT_EQ(names(m.expire(kSettle / 2 + kSettle), Kind::kActivate).size(), 1u);
}

TEST(TgtMapPerAddr, AddThenRemoveWithinSettleCancels) {
  TgtMapState m(TgtMapState::Mode::kPerAddr, kSettle);
  m.tgt_add("w1", 0, nullptr, 0);
  EXPECT_TRUE(m.tgt_remove("w1", 0, 10));
  EXPECT_TRUE(m.expire(10 * kSettle).empty());
  EXPECT_FALSE(m.active("w1"));
}

TEST(TgtMapPerAddr, RemoveDeactivatesAfterSettle) {
  TgtMapState m(TgtMapState::Mode::kPerAddr, kSettle);
  int priv = 0;
  m.tgt_add("w2", 0, &priv, 0);
  m.expire(kSettle);
  ASSERT_TRUE(m.active("w2"));
  m.tgt_remove("w2", 0, 2 * kSettle);
  EXPECT_TRUE(m.expire(3 * kSettle - 1).empty());
  auto acts = m.expire(3 * kSettle);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, Kind::kDeactivate);
  EXPECT_EQ(acts[0].priv, &priv);
  EXPECT_FALSE(m.active("w2"));
}

TEST(TgtMapPerAddr, RemoveOfUnknownAddressFails) {
  TgtMapState m(TgtMapState::Mode::kPerAddr, kSettle);
  EXPECT_FALSE(m.tgt_remove("nope", 0, 0));
  EXPECT_FALSE(m.set_begin());  // full-set calls do not fit a per-address map
  EXPECT_FALSE(m.tgt_add("", 0, nullptr, 0));
}

TEST(TgtMapFullSet, SetDiffActivatesAndDeactivates) {
  TgtMapState m(TgtMapState::Mode::kFullSet, kSettle);
  ASSERT_TRUE(m.set_begin());
  ASSERT_TRUE(m.set_add("w1", 0, nullptr));
  ASSERT_TRUE(m.set_add("w2", 0, nullptr));
  ASSERT_TRUE(m.set_end(0));
  EXPECT_TRUE(m.expire(kSettle - 1).empty());
  auto acts = m.expire(kSettle);
  EXPECT_EQ(names(acts, Kind::kActivate), (std::vector<std::string>{"w1", "w2"}));
  m.set_begin();
  m.set_add("w2", 0, nullptr);
  m.set_add("w3", 0, nullptr);
  m.set_end(2 * kSettle);
  acts = m.expire(3 * kSettle);
  EXPECT_EQ(names(acts, Kind::kDeactivate), std::vector<std::string>{"w1"});
  EXPECT_EQ(names(acts, Kind::kActivate), std::vector<std::string>{"w3"});
  ASSERT_FALSE(acts.empty());
  EXPECT_EQ(acts.front().kind, Kind::kDeactivate);  // removals before additions
}

TEST(TgtMapFullSet, NewSetBeforeSettleReplacesOldOne) {
  TgtMapState m(TgtMapState::Mode::kFullSet, kSettle);
  m.set_begin();
  m.set_add("w1", 0, nullptr);
  m.set_end(0);
  m.set_begin();
  m.set_add("w2", 0, nullptr);
  m.set_end(kSettle / 2);
  EXPECT_TRUE(m.expire(kSettle).empty());
  auto acts = m.expire(kSettle / 2 + kSettle);
  EXPECT_EQ(names(acts, Kind::kActivate), std::vector<std::string>{"w2"});
}

TEST(TgtMapFullSet, FlushAbandonsSetAndSequenceIsChecked) {
  TgtMapState m(TgtMapState::Mode::kFullSet, kSettle);
  EXPECT_FALSE(m.set_add("w1", 0, nullptr));  // outside begin/end
  EXPECT_FALSE(m.set_end(0));
  m.set_begin();
  m.set_add("w1", 0, nullptr);
  EXPECT_TRUE(m.set_flush());
  EXPECT_FALSE(m.pending());
  EXPECT_TRUE(m.expire(10 * kSettle).empty());
  EXPECT_FALSE(m.tgt_add("w1", 0, nullptr, 0));  // per-address call on a full-set map
}

TEST(TgtMapFullSet, DrainDeactivatesEverything) {
  TgtMapState m(TgtMapState::Mode::kFullSet, kSettle);
  m.set_begin();
  m.set_add("a", 0, nullptr);
  m.set_add("b", 0, nullptr);
  m.set_end(0);
  m.expire(kSettle);
  auto acts = m.drain();
  EXPECT_EQ(names(acts, Kind::kDeactivate), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(m.active_addrs().empty());
}

}  // namespace
}  // namespace fk::scsa
