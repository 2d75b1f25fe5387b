#include "events.h"

#include <gtest/gtest.h>

namespace exerciser {
namespace {

TEST(Events, ParsesEveryAction) {
  Event e;
  std::string err;
  ASSERT_TRUE(parse_event("100:remove-target=3", &e, &err)) << err;
  EXPECT_EQ(e.at, 100u);
  EXPECT_EQ(e.kind, Event::Kind::kRemoveTarget);
  EXPECT_EQ(e.target, 3);
  EXPECT_FALSE(e.mock_only());
  ASSERT_TRUE(parse_event("0:add-target=0", &e, &err)) << err;
  EXPECT_EQ(e.kind, Event::Kind::kAddTarget);
  ASSERT_TRUE(parse_event("5:reset-device=1", &e, &err)) << err;
  EXPECT_EQ(e.kind, Event::Kind::kResetDevice);
  ASSERT_TRUE(parse_event("5:reset-bus", &e, &err)) << err;
  EXPECT_EQ(e.kind, Event::Kind::kResetBus);
  ASSERT_TRUE(parse_event("5:reset-adapter", &e, &err)) << err;
  EXPECT_TRUE(e.mock_only());
  ASSERT_TRUE(parse_event("7:fault=error,target=1,count=3", &e, &err)) << err;
  EXPECT_EQ(e.kind, Event::Kind::kFaultError);
  EXPECT_EQ(e.target, 1);
  EXPECT_EQ(e.count, 3u);
  EXPECT_TRUE(e.injects_errors());
  ASSERT_TRUE(parse_event("7:fault=drop-irq,count=2", &e, &err)) << err;
  EXPECT_EQ(e.kind, Event::Kind::kFaultDropIrq);
  EXPECT_FALSE(e.injects_errors());
  ASSERT_TRUE(parse_event("7:fault=check-condition", &e, &err)) << err;
  ASSERT_TRUE(parse_event("7:fault=dup-irq", &e, &err)) << err;
  ASSERT_TRUE(parse_event("7:fault=spurious-irq", &e, &err)) << err;
  ASSERT_TRUE(parse_event("7:fault=bad-cmp-index", &e, &err)) << err;
  EXPECT_EQ(e.kind, Event::Kind::kFaultBadCmpIndex);
  EXPECT_TRUE(e.mock_only());
  EXPECT_FALSE(e.injects_errors());
}

TEST(Events, RejectsBadInput) {
  Event e;
  std::string err;
  for (const char *bad :
       {"", "remove-target=1", "x:reset-bus", "5:", "5:remove-target", "5:remove-target=x",
        "5:remove-target=300", "5:reset-bus=1", "5:fault=melt", "5:fault=error,count=0",
        "5:fault=error,colour=blue", "5:fault=drop-irq,target=1", "5:frobnicate"}) {
    err.clear();
    EXPECT_FALSE(parse_event(bad, &e, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Events, ScheduleRunsEachOnceInOrder) {
  std::vector<Event> evs(3);
  std::string err;
  ASSERT_TRUE(parse_event("20:reset-bus", &evs[0], &err));
  ASSERT_TRUE(parse_event("10:remove-target=1", &evs[1], &err));
  ASSERT_TRUE(parse_event("20:add-target=1", &evs[2], &err));
  EventSchedule s(evs);
  EXPECT_TRUE(s.due(0).empty());
  auto d = s.due(10);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Event::Kind::kRemoveTarget);
  EXPECT_TRUE(s.due(10).empty());
  d = s.due(20);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].kind, Event::Kind::kResetBus);  // command-line order kept
  EXPECT_EQ(d[1].kind, Event::Kind::kAddTarget);
  EXPECT_TRUE(s.remaining().empty());
}

}  // namespace
}  // namespace exerciser
