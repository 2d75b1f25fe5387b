/* sys/kmem.h - kernel memory allocator. */
#ifndef _SYS_KMEM_H
#define _SYS_KMEM_H

#include <sys/types.h>
#include <sys/compat_types.h>

#define KM_SLEEP 0x0000     /* can block for memory; success guaranteed */
#define KM_NOSLEEP 0x0001   /* cannot block for memory; may fail */
#define KM_PANIC 0x0002     /* if memory cannot be allocated, panic */
#define KM_PUSHPAGE 0x0004  /* can block for memory; may use reserve */
#define KM_NORMALPRI 0x0008 /* with KM_NOSLEEP, lower priority allocation */
#define KM_VMFLAGS 0x00ff

#define KMC_NOTOUCH 0x00010000
#define KMC_NODEBUG 0x00020000
#define KMC_NOMAGAZINE 0x00040000
#define KMC_NOHASH 0x00080000
#define KMC_QCACHE 0x00100000

typedef struct kmem_cache kmem_cache_t;

#ifdef __cplusplus
extern "C" {
#endif
extern void *kmem_alloc(size_t size, int kmflag);
extern void *kmem_zalloc(size_t size, int kmflag);
extern void kmem_free(void *buf, size_t size);
extern char *kmem_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern void strfree(char *str);

extern kmem_cache_t *kmem_cache_create(const char *name, size_t bufsize, size_t align,
                                       int (*constructor)(void *, void *, int),
                                       void (*destructor)(void *, void *), void (*reclaim)(void *),
                                       void *priv, vmem_t *vmp, int cflags);
extern void kmem_cache_destroy(kmem_cache_t *cp);
extern void *kmem_cache_alloc(kmem_cache_t *cp, int kmflag);
extern void kmem_cache_free(kmem_cache_t *cp, void *buf);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_KMEM_H */
