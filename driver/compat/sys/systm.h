/*
 * sys/systm.h - kernel string and memory routines (bzero, bcopy, strcmp, snprintf, ...).
 * In the host build the C library declares them; the freestanding build declares them here.
 */
#ifndef _SYS_SYSTM_H
#define _SYS_SYSTM_H

#include <sys/types.h>
#include <sys/compat_types.h>

#ifdef _COMPAT_HOST_LIBC
#include <string.h>
#include <strings.h>
#include <stdio.h>
#ifdef __cplusplus
extern "C" {
#endif
/* glibc before 2.38 lacks strlcpy/strlcat; the userland kernel supplies them. */
extern size_t strlcpy(char *, const char *, size_t);
extern size_t strlcat(char *, const char *, size_t);
#ifdef __cplusplus
}
#endif
#else
#ifdef __cplusplus
extern "C" {
#endif
extern void bzero(void *, size_t);
extern void bcopy(const void *, void *, size_t);
extern int bcmp(const void *, const void *, size_t);
extern void *memcpy(void *, const void *, size_t);
extern void *memmove(void *, const void *, size_t);
extern void *memset(void *, int, size_t);
extern int memcmp(const void *, const void *, size_t);
extern size_t strlen(const char *);
extern size_t strnlen(const char *, size_t);
extern int strcmp(const char *, const char *);
extern int strncmp(const char *, const char *, size_t);
extern char *strcpy(char *, const char *);
extern char *strncpy(char *, const char *, size_t);
extern char *strcat(char *, const char *);
extern size_t strlcpy(char *, const char *, size_t);
extern size_t strlcat(char *, const char *, size_t);
extern char *strchr(const char *, int);
/* The kernel's return the length as size_t (<sys/cmn_err.h>). */
extern size_t snprintf(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));
extern size_t vsnprintf(char *, size_t, const char *, __builtin_va_list);
extern char *sprintf(char *, const char *, ...);
#ifdef __cplusplus
}
#endif
#endif

#endif /* _SYS_SYSTM_H */
