// Corpus replay without libFuzzer (any compiler): runs every file given (directories are
// walked) through the scenario and fails on the first finding. This is what CTest runs.
//
// Whatever ends a replay - a finding, a crash (a signal, a sanitizer report) or a hang (no end
// within ROBUST_REPLAY_TIMEOUT seconds of real time, default 120, 0 for none) - is followed by
// one line "replay: COMMAND", the command that replays just that input (absolute paths, with
// the ROBUST_PLANT and ROBUST_REPLAY_TIMEOUT settings when they are set). test_replay_lines.py runs
// it.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fk.h"
#include "scenario.h"

// In a sanitizer's runtime when one is linked in (ASan, UBSan, TSan); null without.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

// The line for the input being replayed, built before it runs: the signal handlers only write it.
char g_replay_line[8192];
size_t g_replay_len = 0;
char g_hang_line[4096];
size_t g_hang_len = 0;
volatile sig_atomic_t g_printed = 0;
unsigned g_timeout_s = 120;

std::string self_path(const char *argv0) {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::absolute(argv0).string() : p.string();
}

void set_replay_line(const std::string &self, const std::string &file) {
  std::string cmd;
  for (const char *var : {robust::kPlantEnv, "ROBUST_REPLAY_TIMEOUT"})
    if (const char *v = getenv(var)) cmd += std::string(var) + "=" + robust::shell_quote(v) + " ";
  cmd += robust::shell_quote(self) + " " +
         robust::shell_quote(std::filesystem::absolute(file).string());
  std::string line = "replay: " + cmd + "\n";
  g_replay_len = std::min(line.size(), sizeof(g_replay_line));
  memcpy(g_replay_line, line.data(), g_replay_len);
  std::string hang = file + ": FINDING: hang: not finished after " + std::to_string(g_timeout_s) +
                     " s of real time (ROBUST_REPLAY_TIMEOUT)\n";
  g_hang_len = std::min(hang.size(), sizeof(g_hang_line));
  memcpy(g_hang_line, hang.data(), g_hang_len);
  g_printed = 0;
}

void print_replay_line() {
  if (g_printed || g_replay_len == 0) return;
  g_printed = 1;
  ssize_t n = write(STDERR_FILENO, g_replay_line, g_replay_len);
  (void)n;
}

struct sigaction g_previous[NSIG];

// A crash: the line, then whatever handled the signal before (a sanitizer's handler reports and
// dies through the death callback, which finds the line printed) or the default action.
void on_crash(int sig, siginfo_t *info, void *ctx) {
  print_replay_line();
  const struct sigaction &prev = g_previous[sig];
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, ctx);
  } else if ((prev.sa_flags & SA_SIGINFO) == 0 && prev.sa_handler != SIG_DFL &&
             prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void on_hang(int) {
  ssize_t n = write(STDERR_FILENO, g_hang_line, g_hang_len);
  (void)n;
  print_replay_line();
  _exit(3);
}

void install_handlers() {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    struct sigaction sa = {};
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &g_previous[sig]);
  }
  signal(SIGALRM, on_hang);
  // A sanitizer report (use-after-free, overflow, leak at exit) ends in its Die(): print there.
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(print_replay_line);
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> files;
  // --twice: each input runs twice and must give the same trace digest (deterministic mode:
  // one input, one interleaving).
  bool twice = argc > 1 && std::strcmp(argv[1], "--twice") == 0;
  for (int i = twice ? 2 : 1; i < argc; i++) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto &e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path().string());
    } else {
      files.push_back(p.string());
    }
  }
  if (files.empty()) {
    fprintf(stderr, "usage: %s [--twice] FILE|DIR...\n", argv[0]);
    return 2;
  }
  if (const char *t = getenv("ROBUST_REPLAY_TIMEOUT"))
    g_timeout_s = unsigned(strtoul(t, nullptr, 0));
  std::string self = self_path(argv[0]);
  install_handlers();
  uint64_t attached = 0, ops = 0, submitted = 0;
  uint64_t corpus_digest = 1469598103934665603ull;  // FNV-1a over the inputs' digests
  std::sort(files.begin(), files.end());
  for (const auto &f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      fprintf(stderr, "%s: cannot read\n", f.c_str());
      return 2;
    }
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), {});
    set_replay_line(self, f);
    alarm(g_timeout_s);
    robust::ScenarioResult r = robust::run_scenario(data.data(), data.size());
    const uint64_t digest = fk::sched_trace().digest;
    if (twice && r.findings.empty()) {
      robust::ScenarioResult again = robust::run_scenario(data.data(), data.size());
      const uint64_t digest2 = fk::sched_trace().digest;
      if (!again.findings.empty() || digest2 != digest) {
        char msg[128];
        snprintf(msg, sizeof msg, "a second run gave trace digest %016llx, not %016llx",
                 static_cast<unsigned long long>(digest2), static_cast<unsigned long long>(digest));
        r.findings.push_back(again.findings.empty() ? msg : again.findings.front());
      }
    }
    alarm(0);
    corpus_digest = (corpus_digest ^ digest) * 1099511628211ull;
    attached += r.attached;
    ops += r.ops;
    submitted += r.submitted;
    if (!r.findings.empty()) {
      for (const auto &x : r.findings) fprintf(stderr, "%s: FINDING: %s\n", f.c_str(), x.c_str());
      print_replay_line();
      return 1;
    }
  }
  g_replay_len = 0;  // a leak report at exit is not one input's
  printf("%zu inputs: %llu attached, %llu operations, %llu packets, no findings%s\n", files.size(),
         (unsigned long long)attached, (unsigned long long)ops, (unsigned long long)submitted,
         twice ? ", each run twice with the same trace digest" : "");
  if (fk::deterministic() || fk::sched_trace().steps != 0)
    printf("corpus trace digest %016llx\n", static_cast<unsigned long long>(corpus_digest));
  return 0;
}
