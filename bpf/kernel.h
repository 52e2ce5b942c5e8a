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
/* include/linux/err.h: IS_ERR_VALUE */
#define MAX_ERRNO 4095

/* include/uapi/asm-generic/fcntl.h; the same bits on x86 and arm (32 and 64). */

#define O_WRONLY 01
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define __O_TMPFILE 020000000

#endif /* KERNELEVENTS_KERNEL_H */
