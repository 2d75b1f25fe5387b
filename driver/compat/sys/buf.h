/* sys/buf.h - the buffer header, buf(9S). */
#ifndef _SYS_BUF_H
#define _SYS_BUF_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/ksynch.h>

struct page;
struct vnode;
struct proc;

typedef struct buf {
  int b_flags;         /* see defines below */
  struct buf *b_forw;  /* headed by d_tab of conf.c */
  struct buf *b_back;  /* "" */
  struct buf *av_forw; /* position on free list, */
  struct buf *av_back; /*   if not BUSY */
  dev_t b_dev;         /* major+minor device name */
  size_t b_bcount;     /* transfer count */
  union {
    caddr_t b_addr; /* low order core address */
    struct fs *b_fs;
    struct cg *b_cg;
    struct dinode *b_dino;
    daddr32_t *b_daddr;
  } b_un;
  daddr_t b_blkno; /* block # on device (union with b_lblkno) */
  char b_obs1;
  size_t b_resid; /* words not transferred after error */
  clock_t b_start;
  struct proc *b_proc;  /* process doing physical or swap I/O */
  struct page *b_pages; /* page list for PAGEIO */
  clock_t b_obs2;
  size_t b_bufsize;              /* size of allocated buffer */
  int (*b_iodone)(struct buf *); /* function called by iodone */
  struct vnode *b_vp;
  struct buf *b_chain;
  int b_obs3;
  int b_error;     /* expanded error field */
  void *b_private; /* "opaque" driver private area */
  dev_t b_edev;    /* expanded dev field */
  ksema_t b_sem;
  ksema_t b_io;
  struct buf *b_list;
  struct page **b_shadow;
  void *b_dip;
  struct vnode *b_file;
  offset_t b_offset;
} buf_t;

#define paddr(bp) ((bp)->b_un.b_addr)

/* b_flags */
#define B_BUSY 0x0001
#define B_DONE 0x0002
#define B_ERROR 0x0004
#define B_PAGEIO 0x0010
#define B_PHYS 0x0020
#define B_READ 0x0040
#define B_WRITE 0x0100
#define B_KERNBUF 0x0008
#define B_WANTED 0x0080
#define B_AGE 0x000200
#define B_ASYNC 0x000400
#define B_DELWRI 0x000800
#define B_STALE 0x001000
#define B_DONTNEED 0x002000
#define B_REMAPPED 0x004000
#define B_FREE 0x008000
#define B_INVAL 0x010000
#define B_FORCE 0x020000
#define B_NOCACHE 0x080000
#define B_TRUNC 0x100000
#define B_SHADOW 0x200000
#define B_RETRYWRI 0x400000
#define B_FAILFAST 0x01000000

#ifdef __cplusplus
extern "C" {
#endif
extern void bioinit(struct buf *bp);
extern void biofini(struct buf *bp);
extern void bioerror(struct buf *bp, int error);
extern int biowait(struct buf *bp);
extern void biodone(struct buf *bp);
extern int geterror(struct buf *bp);
extern void bp_mapin(struct buf *bp);
extern void bp_mapout(struct buf *bp);
extern struct buf *getrbuf(int sleepflag);
extern void freerbuf(struct buf *bp);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_BUF_H */
