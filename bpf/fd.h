/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * A task's file at an fd: current->files->fdt->fd[fd], by probe reads
 * (fd_file) or by BTF-typed loads (fd_file_btf).
 */
#ifndef KERNELEVENTS_FD_H
#define KERNELEVENTS_FD_H

#include "vmlinux.h"
#include "bpf/bpf_helpers.h"
#include "bpf/bpf_core_read.h"

/* struct fdtable's max_fds, then fd. */
struct fdtable_head {
	unsigned int max_fds;
	unsigned int _pad;
	struct file **fd;
};

/* fd_file returns current->files->fdt->fd[fd], as fs/file.c:files_lookup_fd_raw. */
static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct fdtable_head h = {};
	if (bpf_core_field_offset(struct fdtable, max_fds) == 0 &&
	    bpf_core_field_offset(struct fdtable, fd) == 8) {
		bpf_probe_read_kernel(&h, sizeof(h), fdt);
	} else {
		h.max_fds = BPF_CORE_READ(fdt, max_fds);
		h.fd = BPF_CORE_READ(fdt, fd);
	}
	if (fd < 0 || fd >= h.max_fds)
		return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &h.fd[fd]);
	return f;
}

/* fd_file_btf is fd_file with the task's pointers loaded directly (BTF). */
static __always_inline struct file *fd_file_btf(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	unsigned int max = fdt->max_fds;
	struct file **arr = fdt->fd;
	if (fd < 0 || fd >= max)
		return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
	return f;
}

#endif /* KERNELEVENTS_FD_H */
