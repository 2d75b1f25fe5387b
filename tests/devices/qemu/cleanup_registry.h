// Process-wide registry of things a QEMU run leaves on the system: the QEMU process, files
// (sockets, images, the shared-memory file) and directories. Normal shutdown releases each entry
// as it is cleaned; if the process dies of SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV or
// SIGBUS, or exits with entries still registered, a handler kills the processes and removes the
// files and directories (in that order), then lets the signal take its usual course.
//
// The signal handler uses only async-signal-safe calls (kill, waitpid, unlink, rmdir); entries
// are fixed-size slots, so registering never allocates inside the handler's view.
#pragma once

#include <sys/types.h>

#include <string>

namespace pvscsi_qemu::cleanup {

enum class Kind { kProcess, kFile, kDir };

// Registers an entry; returns its id (>= 0) or -1 when the table is full or the path too long
// (the caller then cleans it up itself as usual, just without the crash safety net).
int add_process(pid_t pid);
int add_file(const std::string &path);
int add_dir(const std::string &path);

// Forgets an entry without acting on it (the owner cleaned it up).
void release(int id);

// Cleans one entry now (kill + reap a process, unlink a file, rmdir a directory) and forgets it.
void run(int id);

// Number of live entries (tests check that a finished run leaves none).
int live_entries();

// Removes leftovers of earlier runs that died without cleaning up (e.g. SIGKILL): entries named
// "pvscsi-qemu-<pid>-*" in /dev/shm and in tmp_dir whose <pid> is no longer running.
void sweep_stale(const std::string &tmp_dir);

// The name prefix used for everything this harness creates.
inline constexpr const char *kNamePrefix = "pvscsi-qemu-";

}  // namespace pvscsi_qemu::cleanup
