#include "cleanup_registry.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace pvscsi_qemu::cleanup {
namespace {

constexpr int kSlots = 256;
constexpr size_t kPathMax = 512;

// Slot states: free -> claimed (being filled) -> live -> free.
enum : int { kFree = 0, kClaimed = 1, kLive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  Kind kind = Kind::kFile;
  pid_t pid = 0;
  char path[kPathMax] = {};
};

Slot g_slots[kSlots];
std::once_flag g_install_once;
struct sigaction g_old_actions[NSIG];
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS};

void clean_slot(Slot &s) {
  switch (s.kind) {
    case Kind::kProcess:
      if (s.pid > 0) {
        kill(s.pid, SIGKILL);
        while (waitpid(s.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
      }
      break;
    case Kind::kFile:
      unlink(s.path);
      break;
    case Kind::kDir:
      rmdir(s.path);
      break;
  }
}

// Processes first (so nothing holds the files), then files, then directories.
void clean_all() {
  for (Kind k : {Kind::kProcess, Kind::kFile, Kind::kDir}) {
    for (auto &s : g_slots) {
      if (s.state.load() == kLive && s.kind == k) {
        int expected = kLive;
        if (s.state.compare_exchange_strong(expected, kClaimed)) {
          clean_slot(s);
          s.state.store(kFree);
        }
      }
    }
  }
}

void on_signal(int sig) {
  int saved = errno;
  clean_all();
  sigaction(sig, &g_old_actions[sig], nullptr);
  errno = saved;
  raise(sig);
}

void install() {
  std::call_once(g_install_once, [] {
    for (int sig : kSignals) {
      // Leave ignored signals ignored (e.g. SIGHUP under nohup); chain to any other handler.
      struct sigaction cur;
      if (sigaction(sig, nullptr, &cur) == 0 && cur.sa_handler == SIG_IGN) {
        continue;
      }
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;
      sigaction(sig, &sa, &g_old_actions[sig]);
    }
    std::atexit(clean_all);
  });
}

int add(Kind kind, pid_t pid, const std::string &path) {
  if (path.size() >= kPathMax) {
    return -1;
  }
  install();
  for (int i = 0; i < kSlots; i++) {
    int expected = kFree;
    if (g_slots[i].state.compare_exchange_strong(expected, kClaimed)) {
      Slot &s = g_slots[i];
      s.kind = kind;
      s.pid = pid;
      memcpy(s.path, path.c_str(), path.size() + 1);
      s.state.store(kLive);
      return i;
    }
  }
  return -1;
}

bool pid_running(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

// "pvscsi-qemu-<pid>-..." -> pid, or 0 when the name does not match.
pid_t owner_of(const char *name) {
  size_t n = strlen(kNamePrefix);
  if (strncmp(name, kNamePrefix, n) != 0) {
    return 0;
  }
  char *end = nullptr;
  long pid = strtol(name + n, &end, 10);
  if (end == name + n || *end != '-' || pid <= 0) {
    return 0;
  }
  return static_cast<pid_t>(pid);
}

void remove_tree(const std::string &path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    if (DIR *d = opendir(path.c_str())) {
      while (dirent *e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
          remove_tree(path + "/" + e->d_name);
        }
      }
      closedir(d);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

void sweep_dir(const std::string &dir) {
  DIR *d = opendir(dir.c_str());
  if (d == nullptr) {
    return;
  }
  while (dirent *e = readdir(d)) {
    pid_t pid = owner_of(e->d_name);
    if (pid != 0 && pid != getpid() && !pid_running(pid)) {
      remove_tree(dir + "/" + e->d_name);
    }
  }
  closedir(d);
}

}  // namespace

int add_process(pid_t pid) { return add(Kind::kProcess, pid, ""); }
int add_file(const std::string &path) { return add(Kind::kFile, 0, path); }
int add_dir(const std::string &path) { return add(Kind::kDir, 0, path); }

void release(int id) {
  if (id >= 0 && id < kSlots) {
    int expected = kLive;
    if (g_slots[id].state.compare_exchange_strong(expected, kClaimed)) {
      g_slots[id].state.store(kFree);
    }
  }
}

void run(int id) {
  if (id >= 0 && id < kSlots) {
    int expected = kLive;
    if (g_slots[id].state.compare_exchange_strong(expected, kClaimed)) {
      clean_slot(g_slots[id]);
      g_slots[id].state.store(kFree);
    }
  }
}

int live_entries() {
  int n = 0;
  for (auto &s : g_slots) {
    n += s.state.load() != kFree ? 1 : 0;
  }
  return n;
}

void sweep_stale(const std::string &tmp_dir) {
  sweep_dir("/dev/shm");
  sweep_dir(tmp_dir);
}

}  // namespace pvscsi_qemu::cleanup
