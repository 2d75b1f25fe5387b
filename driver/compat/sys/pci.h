/* sys/pci.h - PCI configuration access and definitions (freestanding build; see compat_pci.h). */
#ifndef _SYS_PCI_H
#define _SYS_PCI_H

#include <sys/types.h>
#include <sys/compat_pci.h>

#endif /* _SYS_PCI_H */
