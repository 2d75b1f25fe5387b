// QEMU's pvscsi device model as an fk::DeviceBackend.
//
// QemuDevice starts qemu-system-x86_64 with no guest CPU running (-S), the qtest protocol and
// QMP on unix sockets, guest RAM as a shared file in /dev/shm that this process maps too, one
// pvscsi controller (id "hba") and scsi-hd disks on raw images. It enumerates PCI with config
// cycles, programs BAR0 and the command register, routes INTx through the PIIX3 PIRQ registers
// to I/O APIC input kIrq, and forwards register and config accesses over qtest. A reader thread
// turns "IRQ raise/lower" lines into DeviceHost::set_intx.
//
// MSI: QEMU's pvscsi has an MSI capability (one vector, 64-bit address; no MSI-X). When the
// kernel enables MSI, the capability is programmed with an address in guest RAM (kMsiAddress,
// outside the arena) and data kMsiData, so each message is a plain memory write into the shared
// mapping. The qtest reader thread looks at that word (no qtest round trip) after every batch
// of qtest input it reads and, between inputs, after a short interval while the device is busy
// (a register write or a message within msi_busy_window) or a long one when it is idle; it
// blocks on the socket in between instead of sleeping or spinning. A message is re-armed by
// clearing the word, then delivered as DeviceHost::send_msi(0); messages the device writes
// before the next look are one message, as an edge-triggered vector that is already pending.
// QemuOptions::offer_msi = false offers FIXED only.
//
// Guest RAM layout (QEMU 7.2, machine "pc" = i440fx, checked by the tests):
//   guest-physical [0, below)              <-> file offset [0, below)
//   guest-physical [4 GiB, 4 GiB + above)  <-> file offset [below, below + above)
// where below = QemuOptions::ram_below_4g and above = ram_above_4g. With above > 0 we pass
// -machine max-ram-below-4g=below -m below+above and QEMU splits RAM exactly there (it warns
// when `below` is not a multiple of 1 GiB, which is harmless); with above == 0 all RAM is below
// (true for any size under QEMU's default split of 3.5 GiB). Below 1 MiB the legacy VGA window
// (0xA0000-0xBFFFF) and the BIOS shadow (0xC0000-0xFFFFF) hide RAM from devices, so the arena
// offered to the kernel (arena_ranges()) starts at kArenaStart (4 MiB); [0, 4 MiB) stays
// reserved for the harness: the page at kMsiAddress (2 MiB) receives the device's MSI writes.
//
// Errors: start-up failures throw std::runtime_error with a clear message (missing binary,
// QEMU's stderr when it exits, timeouts). Once running, a lost connection turns register reads
// into all-ones (a master abort) and is reported by failed()/error(). Every wait is bounded.
//
// Cleanup: the QEMU process (killed and reaped), sockets, the shared-memory file, temporary
// images and the run directory are registered with the cleanup registry, so they go away on
// stop(), on destruction, at exit and on fatal signals. QEMU also gets PR_SET_PDEATHSIG, so it
// dies with the thread that started it (start QemuDevice on a long-lived thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "device.h"
#include "qmp_client.h"

namespace pvscsi_qemu {

class QtestClient;
class QmpClient;

struct DiskSpec {
  unsigned target = 0;                // SCSI target id (scsi-id), 0..64
  uint64_t size_bytes = 16ull << 20;  // image size (sparse)
  unsigned block_size = 512;          // logical and physical block size: 512 or 4096
  std::string image_path;             // empty: a temporary image, removed at stop()
  // No LUN: QEMU's pvscsi bus has max_lun 0 (device_add of lun=1 fails "bad scsi device lun").
};

struct QemuOptions {
  std::string binary = "qemu-system-x86_64";  // name (searched in PATH) or path
  uint64_t ram_below_4g = 64ull << 20;        // guest RAM below the PCI hole (<= 3 GiB)
  uint64_t ram_above_4g = 0;                  // guest RAM at 4 GiB and up
  std::vector<DiskSpec> disks;
  std::vector<std::string> extra_args;       // passed through to QEMU unchanged
  std::chrono::milliseconds timeout{10000};  // bound of every single wait
  std::string tmp_dir;                       // empty: $TMPDIR or /tmp
  bool offer_msi = true;                     // false: offer FIXED (INTx) interrupts only
  // How often the MSI word is looked at when no qtest input comes: every msi_busy_interval
  // until msi_busy_window after the last register write or message, then every
  // msi_idle_interval (a message that comes while idle waits at most that long).
  std::chrono::microseconds msi_busy_interval{150};
  std::chrono::microseconds msi_busy_window{10000};
  std::chrono::microseconds msi_idle_interval{1000};
  // Also look after every batch of qtest input (each reply the host reads anyway).
  bool msi_look_on_input = true;
};

// What the MSI watch did (for benchmarks and tests).
struct MsiStats {
  uint64_t messages = 0;     // writes seen at kMsiAddress, each delivered as send_msi(0)
  uint64_t looks = 0;        // looks at the word (after qtest input or an interval)
  uint64_t timed_looks = 0;  // of those, after an interval without qtest input
};

// A guest-physical range and where it lives in the shared-memory file.
struct MemoryRange {
  uint64_t paddr;
  uint64_t file_offset;
  uint64_t size;
};

class QemuDevice : public fk::DeviceBackend {
 public:
  static constexpr uint64_t kArenaStart = 4ull << 20;  // low guest RAM kept out of the arena
  static constexpr uint64_t kBarAddress = 0xE0000000;  // where BAR0 is placed (PCI hole)
  static constexpr int kIrq = 11;                      // PIRQA-D are all routed here
  static constexpr unsigned kMemRnumber = 1;           // the 32 KiB memory BAR
  static constexpr uint64_t kBarSize = 32768;
  static constexpr uint64_t kMsiAddress = 2ull << 20;  // MSI target: a reserved guest-RAM page
  static constexpr uint32_t kMsiData = 0x5C51;         // message data (non-zero)

  // Starts QEMU; throws std::runtime_error on failure (after cleaning up what it made).
  explicit QemuDevice(QemuOptions options);
  ~QemuDevice() override;
  QemuDevice(const QemuDevice &) = delete;
  QemuDevice &operator=(const QemuDevice &) = delete;

  // Stops QEMU and removes everything it made (idempotent; the destructor calls it).
  void stop();

  // fk::DeviceBackend
  void connect(fk::DeviceHost *host) override;
  void disconnect() override;
  // disconnect() only if `host` is the one connected (for objects that may outlive a test).
  void release_host(fk::DeviceHost *host);
  uint32_t config_read(uint32_t offset, unsigned width) override;
  void config_write(uint32_t offset, unsigned width, uint32_t value) override;
  unsigned num_regions() override { return 2; }
  fk::RegionInfo region(unsigned rnumber) override;
  uint64_t reg_read(unsigned rnumber, uint64_t offset, unsigned width) override;
  void reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) override;
  int intr_types() override;
  int intr_count(int type) override;
  void set_intr_mode(int type, unsigned nvectors) override;

  // Config offset of the MSI capability (0 when the device has none), and whether MSI is
  // currently enabled in it (read back from the device).
  unsigned msi_cap() const { return msi_cap_; }
  // Change QemuOptions::offer_msi while no kernel is connected (a benchmark compares both).
  void set_offer_msi(bool offer) { opt_.offer_msi = offer; }
  bool msi_enabled_in_device();
  MsiStats msi_stats() const {
    return {msi_messages_.load(), msi_looks_.load(), msi_timed_looks_.load()};
  }

  // Register and config accesses made through this interface (reg_read/reg_write, config_read/
  // config_write: what a guest driver's accesses would be, each a VM exit on a hypervisor); the
  // backend's own config cycles (set-up, MSI programming) are not counted.
  uint64_t register_reads() const { return reg_reads_.load(); }
  uint64_t register_writes() const { return reg_writes_.load(); }

  // Shorthands for BAR0 registers (offsets in bytes).
  uint32_t read32(uint32_t offset) { return static_cast<uint32_t>(reg_read(1, offset, 4)); }
  void write32(uint32_t offset, uint32_t v) { reg_write(1, offset, 4, v); }

  // Hotplug through QMP. add_disk attaches a scsi-hd on `spec.target` (creating a temporary
  // image unless a path is given); remove_disk detaches it and waits (bounded) for
  // DEVICE_DELETED. Both throw std::runtime_error with QEMU's error text on failure.
  void add_disk(const DiskSpec &spec);
  void remove_disk(unsigned target);

  // Any QMP command (for what the functions above do not cover); returns its "return" value,
  // throws std::runtime_error with QEMU's error text.
  Json qmp(const std::string &command, const Json &arguments = Json());

  // The image file of the disk on `target` (also after remove_disk, until stop()); empty when
  // there never was one.
  std::string image_path(unsigned target) const;

  // Guest RAM shared with QEMU.
  const std::string &shm_path() const { return shm_path_; }
  int shm_fd() const { return shm_fd_; }
  uint64_t shm_size() const { return shm_size_; }
  uint8_t *shm_base() const { return shm_base_; }
  std::vector<MemoryRange> ram_ranges() const;    // all guest RAM
  std::vector<MemoryRange> arena_ranges() const;  // what the kernel may use (from kArenaStart)
  // Host pointer for [paddr, paddr + len) if it lies inside one RAM range, else nullptr.
  uint8_t *guest_ptr(uint64_t paddr, uint64_t len) const;

  // Guest memory as QEMU sees it (qtest readl/writel at a guest-physical address), to check
  // the shared mapping against QEMU's own view.
  uint32_t guest_read32(uint64_t paddr);
  void guest_write32(uint64_t paddr, uint32_t value);

  // Where the controller was found (PCI bus 0) and the process.
  unsigned pci_device() const { return pci_dev_; }
  pid_t pid() const { return pid_; }
  const std::string &run_dir() const { return dir_; }
  const std::string &stderr_path() const { return stderr_path_; }
  // Current level of the intercepted INTx line (independent of set_intr_mode).
  bool intx_level() const { return intx_level_.load(); }

  bool failed() const;
  std::string error() const;

  // QEMU's stderr so far (for failure messages).
  std::string qemu_stderr() const;

 private:
  struct Disk {
    DiskSpec spec;
    std::string node;    // blockdev node name
    std::string dev_id;  // qdev id
    bool attached = false;
    int image_cleanup = -1;  // registry id for a temporary image, else -1
  };

  void start();
  void check_options() const;
  void prepare_disks();
  int listen_qtest();
  std::vector<std::string> qemu_args() const;
  void connect_clients(int lfd);
  void make_run_dir();
  void make_shared_ram();
  void prepare_image(Disk *disk);
  void launch(const std::vector<std::string> &args);
  void open_standard_files(int *err_fd, int *null_fd, int exec_pipe[2]);
  int accept_qtest(int listen_fd);
  void setup_pci();
  uint32_t cfg_read(unsigned dev, uint32_t offset, unsigned width);
  void cfg_write(unsigned dev, uint32_t offset, unsigned width, uint32_t value);
  bool alive();
  bool wait_exit(std::chrono::milliseconds bound);
  [[noreturn]] void fail_start(const std::string &why);
  void on_irq(int irq, bool raised);
  void find_msi_cap();
  void program_msi(bool enable);
  void start_watch();
  void stop_watch();
  void note_activity();
  int64_t check_msi(bool timed_out);
  int64_t next_look_ns() const;
  Disk *find_disk(unsigned target);

  QemuOptions opt_;
  std::string dir_;
  int dir_cleanup_ = -1;
  std::string qtest_path_, qmp_path_, stderr_path_;
  int qtest_cleanup_ = -1, qmp_cleanup_ = -1, stderr_cleanup_ = -1;
  std::string shm_path_;
  int shm_fd_ = -1;
  int shm_cleanup_ = -1;
  uint64_t shm_size_ = 0;
  uint8_t *shm_base_ = nullptr;
  pid_t pid_ = -1;
  int pid_cleanup_ = -1;
  bool exited_ = false;
  int exit_status_ = -1;
  std::unique_ptr<QtestClient> qtest_;
  std::unique_ptr<QmpClient> qmp_;
  std::mutex qmp_mu_;  // one QMP exchange at a time
  std::mutex cfg_mu_;  // keeps a 0xCF8/0xCFC pair together
  std::vector<Disk> disks_;
  mutable std::mutex disks_mu_;
  unsigned pci_dev_ = 0;
  unsigned next_node_ = 0;

  std::mutex host_mu_;  // guards host_ and intx_enabled_ against the reader thread
  fk::DeviceHost *host_ = nullptr;
  bool intx_enabled_ = false;
  std::atomic<bool> intx_level_{false};
  bool msi_deliver_ = false;  // under host_mu_: MSI enabled by the kernel
  bool stopped_ = false;

  unsigned msi_cap_ = 0;
  bool msi_64bit_ = false;
  bool msi_on_ = false;           // under msi_mu_: programmed into the device, word watched
  std::mutex msi_mu_;             // one MSI (re)programming at a time; never held with host_mu_
  uint32_t *msi_word_ = nullptr;  // kMsiAddress in the shared mapping, while watched
  std::atomic<int64_t> last_activity_ns_{0};  // steady clock: last register write or message
  std::atomic<uint64_t> msi_messages_{0}, msi_looks_{0}, msi_timed_looks_{0};
  std::atomic<uint64_t> reg_reads_{0}, reg_writes_{0};
};

}  // namespace pvscsi_qemu
