#include "options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace exerciser {
namespace {

std::string parse(std::vector<const char *> args, Options *o) {
  args.insert(args.begin(), "pvscsi-exercise");
  return parse_options(int(args.size()), args.data(), o);
}

TEST(Options, Defaults) {
  Options o;
  ASSERT_EQ(parse({}, &o), "");
  EXPECT_EQ(o.device, "mock");
  EXPECT_EQ(o.targets, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(o.ops, 10000u);
  EXPECT_EQ(o.qd, 16u);
  EXPECT_TRUE(o.verify);
  EXPECT_EQ(o.bs.sizes, std::vector<uint64_t>{4096});
  EXPECT_EQ(validate_options(&o), "");
}

TEST(Options, EveryOptionParses) {
  Options o;
  ASSERT_EQ(parse({"--device",     "mock",       "--targets", "0,3",
                   "--luns=2",     "--capacity", "8m",        "--block-size",
                   "4096",         "--profile",  "qemu",      "--latency-us",
                   "20",           "--intr",     "msi",       "--seconds",
                   "1.5",          "--qd",       "64",        "--bs",
                   "4k-64k",       "--read-pct", "70",        "--pattern",
                   "sequential",   "--seed",     "99",        "--no-verify",
                   "--io-timeout", "5",          "--at",      "10:reset-bus",
                   "--json",       "-",          "-q",        "--no-progress",
                   "--console"},
                  &o),
            "");
  EXPECT_EQ(o.targets, (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(o.luns, 2u);
  EXPECT_EQ(o.capacity, 8u << 20);
  EXPECT_EQ(o.block_size, 4096u);
  EXPECT_EQ(o.profile, "qemu");
  EXPECT_EQ(o.latency_us, 20u);
  EXPECT_EQ(o.intr, "msi");
  EXPECT_DOUBLE_EQ(o.seconds, 1.5);
  EXPECT_EQ(o.qd, 64u);
  EXPECT_EQ(o.bs.kind, BlockSizeSpec::Kind::kRange);
  EXPECT_EQ(o.read_pct, 70u);
  EXPECT_TRUE(o.sequential);
  EXPECT_EQ(o.seed, 99u);
  EXPECT_FALSE(o.verify);
  EXPECT_EQ(o.io_timeout_s, 5u);
  ASSERT_EQ(o.events.size(), 1u);
  EXPECT_EQ(o.json_path, "-");
  EXPECT_TRUE(o.quiet);
  EXPECT_EQ(o.progress, "never");
  EXPECT_TRUE(o.console);
  EXPECT_EQ(validate_options(&o), "");
}

// Every bad argument: one line that names it.
TEST(Options, ErrorsNameTheArgument) {
  struct Case {
    std::vector<const char *> args;
    const char *names;
  } cases[] = {
      {{"--bogus"}, "--bogus"},
      {{"stray"}, "stray"},
      {{"--qd", "0"}, "--qd"},
      {{"--qd", "2000"}, "--qd"},
      {{"--qd", "x"}, "--qd"},
      {{"--qd"}, "--qd"},
      {{"--ops", "-5"}, "--ops"},
      {{"--seconds", "abc"}, "--seconds"},
      {{"--seconds", "0"}, "--seconds"},
      {{"--bs", "3x"}, "--bs"},
      {{"--device", "floppy"}, "--device"},
      {{"--profile", "hyperv"}, "--profile"},
      {{"--block-size", "1000"}, "--block-size"},
      {{"--targets", "0,0"}, "--targets"},
      {{"--targets", "99"}, "--targets"},
      {{"--luns", "0"}, "--luns"},
      {{"--capacity", "0"}, "--capacity"},
      {{"--read-pct", "101"}, "--read-pct"},
      {{"--pattern", "zigzag"}, "--pattern"},
      {{"--seed", "1e3"}, "--seed"},
      {{"--at", "x:reset-bus"}, "--at"},
      {{"--at", "5:explode"}, "--at"},
      {{"--qemu-disk", "size=1m"}, "--qemu-disk"},
      {{"--qemu-disk", "target=0,color=red"}, "--qemu-disk"},
      {{"--qemu-disk", "target=0,block=1000"}, "--qemu-disk"},
      {{"--json", ""}, "--json"},
      {{"--no-verify=1"}, "--no-verify"},
      {{"--ops", "5", "--seconds", "1"}, "--seconds"},
      {{"--intr", "nmi"}, "--intr"},
      {{"--progress", "sometimes"}, "--progress"},
      {{"--driver-conf", ""}, "--driver-conf"},
  };
  for (const auto &c : cases) {
    Options o;
    std::string err = parse(c.args, &o);
    EXPECT_NE(err.find(c.names), std::string::npos) << c.args[0] << " -> " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
}

std::string validate(std::vector<const char *> args) {
  Options o;
  std::string err = parse(args, &o);
  if (!err.empty()) return "parse: " + err;
  return validate_options(&o);
}

TEST(Options, ValidationErrors) {
  EXPECT_NE(validate({"--qemu-disk", "target=0"}).find("--qemu-disk: needs --device qemu"),
            std::string::npos);
  EXPECT_NE(validate({"--device", "qemu", "--targets", "2"}).find("--targets"), std::string::npos);
  if (!find_executable("qemu-system-x86_64").empty()) {
    std::string e = validate({"--device", "qemu", "--intr", "msix"});
    EXPECT_EQ(e.rfind("--intr: ", 0), 0u) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    for (const char *ok : {"auto", "fixed", "msi"})
      EXPECT_EQ(validate({"--device", "qemu", "--intr", ok}), "") << ok;
  }
  EXPECT_NE(
      validate({"--device", "qemu", "--qemu-binary", "/nonexistent/qemu"}).find("--qemu-binary"),
      std::string::npos);
  EXPECT_NE(validate({"--block-size", "4096", "--bs", "512"}).find("--bs"), std::string::npos);
  EXPECT_NE(validate({"--capacity", "1000"}).find("--capacity"), std::string::npos);
  EXPECT_NE(validate({"--capacity", "4k", "--bs", "8k"}).find("--bs"), std::string::npos);
  EXPECT_NE(validate({"--at", "5:remove-target=7"}).find("not in the topology"), std::string::npos);
  EXPECT_NE(validate({"--ops", "10", "--at", "10:reset-bus"}).find("--at"), std::string::npos);
  EXPECT_NE(validate({"--json", "/nonexistent-dir/x.json"}).find("--json"), std::string::npos);
  EXPECT_NE(validate({"--json", "/"}).find("--json"), std::string::npos);
  EXPECT_NE(validate({"--driver-conf", "/nonexistent.conf"}).find("--driver-conf"),
            std::string::npos);
}

TEST(Options, QemuDisks) {
  if (find_executable("qemu-system-x86_64").empty()) GTEST_SKIP() << "no QEMU";
  EXPECT_NE(validate({"--device", "qemu", "--qemu-disk", "target=0,file=/nonexistent.img"})
                .find("/nonexistent.img"),
            std::string::npos);
  EXPECT_NE(validate({"--device", "qemu", "--at", "5:fault=error"}).find("needs --device mock"),
            std::string::npos);
  EXPECT_NE(validate({"--device", "qemu", "--qemu-disk", "target=1", "--qemu-disk", "target=1"})
                .find("twice"),
            std::string::npos);

  char path[] = "/tmp/exerciser-opt-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
  close(fd);
  Options o;
  std::string arg = std::string("target=2,block=4096,file=") + path;
  ASSERT_EQ(parse({"--device", "qemu", "--qemu-disk", arg.c_str()}, &o), "");
  EXPECT_EQ(validate_options(&o), "");
  ASSERT_EQ(o.qemu_disks.size(), 1u);
  EXPECT_EQ(o.qemu_disks[0].size, 1u << 20);  // from the file
  auto luns = planned_luns(o);
  ASSERT_EQ(luns.size(), 1u);
  EXPECT_EQ(luns[0].target, 2u);
  EXPECT_EQ(luns[0].blocks, 256u);
  unlink(path);
}

TEST(Options, UsageDocumentsEveryOption) {
  const std::string u = usage();
  for (const char *name :
       {"--device",      "--targets",     "--luns",    "--capacity",  "--block-size",
        "--profile",     "--latency-us",  "--intr",    "--qemu-disk", "--qemu-arg",
        "--qemu-binary", "--ops",         "--seconds", "--qd",        "--bs",
        "--read-pct",    "--pattern",     "--seed",    "--no-verify", "--io-timeout",
        "--at",          "--driver-conf", "--json",    "--quiet",     "--progress",
        "--no-progress", "--console",     "--help",    "--version"})
    EXPECT_NE(u.find(name), std::string::npos) << name;
}

TEST(Options, FindExecutable) {
  EXPECT_FALSE(find_executable("sh").empty());
  EXPECT_EQ(find_executable("surely-not-a-program-xyz"), "");
  EXPECT_EQ(find_executable("/etc/passwd"), "");
}

}  // namespace
}  // namespace exerciser
