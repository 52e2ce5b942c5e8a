/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Kernel constants the programs need that BTF does not carry (macros), each
 * with the header it comes from.
 */
#ifndef KERNELEVENTS_KERNEL_H
#define KERNELEVENTS_KERNEL_H

/* include/linux/fs.h; a macro, so not in BTF. Stable since 4.19. */
#define FMODE_CREATED 0x100000
/* include/linux/sched.h: io-wq workers and the SQPOLL thread. */
#define PF_IO_WORKER 0x00000010
/* include/linux/sched.h: the thread that is writing a core dump. */
#define PF_DUMPCORE 0x00000200
#define S_IFMT 00170000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define S_IFLNK 0120000
#define AT_FDCWD -100
/* include/linux/namei.h: the last component, in an object's creation */
#define LOOKUP_CREATE 0x0200
/* include/linux/err.h: IS_ERR_VALUE */
#define MAX_ERRNO 4095

/* include/uapi/asm-generic/fcntl.h; the same bits on x86 and arm (32 and 64). */

#define O_WRONLY 01
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define __O_TMPFILE 020000000

/*
 * include/linux/dcache.h: a bit of struct dentry's d_flags. An enum
 * (dentry_flags, renumbered) since 6.14, so in BTF there; a macro before,
 * whose value is given: DENTRY_FLAG(DCACHE_MOUNTED, 0x10000). A constant
 * at load time (CO-RE), for a file that includes libbpf's bpf_core_read.h.
 */
#define DENTRY_FLAG(name, before)                                                                  \
	((__u32)(bpf_core_enum_value_exists(enum dentry_flags, name)                               \
			 ? bpf_core_enum_value(enum dentry_flags, name)                            \
			 : (before)))

#endif /* KERNELEVENTS_KERNEL_H */
