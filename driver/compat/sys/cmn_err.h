/*
 * sys/cmn_err.h - console messages. A message starting with '!' goes to the system log only,
 * '^' to the console only, '?' to the console only when booted verbose; otherwise both.
 */
#ifndef _SYS_CMN_ERR_H
#define _SYS_CMN_ERR_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/dditypes.h>

#define CE_CONT 0   /* continuation */
#define CE_NOTE 1   /* notice */
#define CE_WARN 2   /* warning */
#define CE_PANIC 3  /* panic */
#define CE_IGNORE 4 /* print nothing */

#ifdef __cplusplus
extern "C" {
#endif
extern void cmn_err(int, const char *, ...) __attribute__((format(printf, 2, 3)));
/* As <sys/cmn_err.h> declares it: the format is `char *`, which a C++ string literal is not. */
extern void dev_err(dev_info_t *, int, char *, ...) __attribute__((format(printf, 3, 4)));
extern void vcmn_err(int, const char *, __builtin_va_list);
extern void panic(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
extern void vpanic(const char *, __builtin_va_list) __attribute__((noreturn));
#ifdef __cplusplus
}
#endif

#endif /* _SYS_CMN_ERR_H */
