/*
 * sys/compat_pci.h - the illumos <sys/pci.h> interfaces: configuration space access
 * (pci_config_setup(9F), pci_config_get8(9F)), register offsets, the "reg" property layout.
 *
 * Not an illumos header name: the host C library owns sys/pci.h (Linux's), so in the host build
 * this content comes through <sys/sunddi.h>. Where a name also exists in Linux's pci_regs.h the
 * definition is spelled identically so that both can be seen together.
 */
#ifndef _SYS_COMPAT_PCI_H
#define _SYS_COMPAT_PCI_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/dditypes.h>

/* Configuration header offsets. */
#define PCI_CONF_VENID 0x0
#define PCI_CONF_DEVID 0x2
#define PCI_CONF_COMM 0x4
#define PCI_CONF_STAT 0x6
#define PCI_CONF_REVID 0x8
#define PCI_CONF_PROGCLASS 0x9
#define PCI_CONF_SUBCLASS 0xA
#define PCI_CONF_BASCLASS 0xB
#define PCI_CONF_CACHE_LINESZ 0xC
#define PCI_CONF_LATENCY_TIMER 0xD
#define PCI_CONF_HEADER 0xE
#define PCI_CONF_BIST 0xF
#define PCI_CONF_BASE0 0x10
#define PCI_CONF_BASE1 0x14
#define PCI_CONF_BASE2 0x18
#define PCI_CONF_BASE3 0x1c
#define PCI_CONF_BASE4 0x20
#define PCI_CONF_BASE5 0x24
#define PCI_CONF_CIS 0x28
#define PCI_CONF_SUBVENID 0x2c
#define PCI_CONF_SUBSYSID 0x2e
#define PCI_CONF_ROM 0x30
#define PCI_CONF_CAP_PTR 0x34
#define PCI_CONF_ILINE 0x3c
#define PCI_CONF_IPIN 0x3d
#define PCI_CONF_MIN_G 0x3e
#define PCI_CONF_MAX_L 0x3f

/* Command register bits. */
#define PCI_COMM_IO 0x1
#define PCI_COMM_MAE 0x2
#define PCI_COMM_ME 0x4
#define PCI_COMM_SPEC_CYC 0x8
#define PCI_COMM_MEMWR_INVAL 0x10
#define PCI_COMM_PARITY_DETECT 0x40
#define PCI_COMM_SERR_ENABLE 0x100
#define PCI_COMM_INTX_DISABLE 0x400

/* Status register bits. */
#define PCI_STAT_INTR 0x8
#define PCI_STAT_CAP 0x10
#define PCI_STAT_S_TARG_AB 0x800
#define PCI_STAT_R_TARG_AB 0x1000
#define PCI_STAT_R_MAST_AB 0x2000
#define PCI_STAT_S_SYSERR 0x4000
#define PCI_STAT_PERROR 0x8000

/* Capability IDs. */
#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_PCI_E 0x10
#define PCI_CAP_ID_MSI_X 0x11

/* Base address register decoding. */
#define PCI_BASE_SPACE_M 0x00000001
#define PCI_BASE_SPACE_IO 0x1
#define PCI_BASE_SPACE_MEM 0x0
#define PCI_BASE_TYPE_M 0x00000006
#define PCI_BASE_TYPE_MEM 0x0
#define PCI_BASE_TYPE_LOW 0x2
#define PCI_BASE_TYPE_ALL 0x4
#define PCI_BASE_PREF_M 0x00000008

/* The "reg" property: one pci_regspec_t per register set (IEEE 1275 PCI binding). */
typedef struct pci_phys_spec {
  uint_t pci_phys_hi;  /* npt000ss bbbbbbbb dddddfff rrrrrrrr */
  uint_t pci_phys_mid; /* high 32 bits of the address */
  uint_t pci_phys_low; /* low 32 bits of the address */
  uint_t pci_size_hi;  /* high 32 bits of the size */
  uint_t pci_size_low; /* low 32 bits of the size */
} pci_regspec_t;

#define PCI_REG_REG_M 0xff         /* register number mask */
#define PCI_REG_FUNC_M 0x700       /* function number mask */
#define PCI_REG_DEV_M 0xf800       /* device number mask */
#define PCI_REG_BUS_M 0xff0000     /* bus number mask */
#define PCI_REG_ADDR_M 0x3000000   /* address space mask */
#define PCI_REG_ALIAS_M 0x20000000 /* aliased bit mask */
#define PCI_REG_PF_M 0x40000000    /* prefetch bit mask */
#define PCI_REG_REL_M 0x80000000   /* relocation bit mask */

#define PCI_REG_REG_G(x) ((x)&PCI_REG_REG_M)
#define PCI_REG_FUNC_G(x) (((x)&PCI_REG_FUNC_M) >> 8)
#define PCI_REG_DEV_G(x) (((x)&PCI_REG_DEV_M) >> 11)
#define PCI_REG_BUS_G(x) (((x)&PCI_REG_BUS_M) >> 16)
#define PCI_REG_ADDR_G(x) (((x)&PCI_REG_ADDR_M) >> 24)

/* Values of PCI_REG_ADDR_G(pci_phys_hi). */
#define PCI_ADDR_CONFIG 0x00000000
#define PCI_ADDR_IO 0x01000000
#define PCI_ADDR_MEM32 0x02000000
#define PCI_ADDR_MEM64 0x03000000
#define PCI_ADDR_MASK PCI_REG_ADDR_M

#define PCI_REG_ADDR_CONFIG (PCI_ADDR_CONFIG >> 24)
#define PCI_REG_ADDR_IO (PCI_ADDR_IO >> 24)
#define PCI_REG_ADDR_MEM32 (PCI_ADDR_MEM32 >> 24)
#define PCI_REG_ADDR_MEM64 (PCI_ADDR_MEM64 >> 24)

#ifdef __cplusplus
extern "C" {
#endif
extern int pci_config_setup(dev_info_t *dip, ddi_acc_handle_t *handle);
extern void pci_config_teardown(ddi_acc_handle_t *handle);
extern uint8_t pci_config_get8(ddi_acc_handle_t handle, off_t offset);
extern uint16_t pci_config_get16(ddi_acc_handle_t handle, off_t offset);
extern uint32_t pci_config_get32(ddi_acc_handle_t handle, off_t offset);
extern uint64_t pci_config_get64(ddi_acc_handle_t handle, off_t offset);
extern void pci_config_put8(ddi_acc_handle_t handle, off_t offset, uint8_t value);
extern void pci_config_put16(ddi_acc_handle_t handle, off_t offset, uint16_t value);
extern void pci_config_put32(ddi_acc_handle_t handle, off_t offset, uint32_t value);
extern void pci_config_put64(ddi_acc_handle_t handle, off_t offset, uint64_t value);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_COMPAT_PCI_H */
