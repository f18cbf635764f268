/*
 * Reading a model file through a descriptor where there is no mmap (WASI: in
 * the browser each read is a slice of a Blob, so a large model never sits
 * whole in memory). The safetensors and GGUF readers use it as their read-at
 * source for files.
 */
#ifndef WGML_FILE_READ_H
#define WGML_FILE_READ_H

#include "wgml.h"

// A read-at callback over an open file descriptor: `user` points at the int
// descriptor. WGML_OK only when all n bytes at `offset` were read.
wgml_status wgml_fd_read_at(void *user, uint64_t offset, void *dst, size_t n);

#endif
