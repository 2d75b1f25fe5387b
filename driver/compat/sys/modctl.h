/* sys/modctl.h - loadable module linkage: modldrv(9S), modlinkage(9S), mod_install(9F). */
#ifndef _SYS_MODCTL_H
#define _SYS_MODCTL_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/devops.h>

struct mod_ops;
struct modinfo;

struct modldrv {
  struct mod_ops *drv_modops;
  const char *drv_linkinfo;
  struct dev_ops *drv_dev_ops;
};

struct modlmisc {
  struct mod_ops *misc_modops;
  const char *misc_linkinfo;
};

#define MODREV_1 1
#define MODMAXLINK 7

struct modlinkage {
  int ml_rev;
  void *ml_linkage[MODMAXLINK];
};

#ifdef __cplusplus
extern "C" {
#endif
extern struct mod_ops mod_driverops;
extern struct mod_ops mod_miscops;
extern int mod_install(struct modlinkage *modlinkage);
extern int mod_remove(struct modlinkage *modlinkage);
extern int mod_info(struct modlinkage *modlinkage, struct modinfo *modinfop);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_MODCTL_H */
