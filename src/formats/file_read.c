#include "formats/file_read.h"

#include <unistd.h>

wgml_status wgml_fd_read_at(void *user, uint64_t offset, void *dst, size_t n)
{
    int fd = *(const int *)user;
    unsigned char *d = dst;
    while (n > 0) {
        ssize_t got = pread(fd, d, n, (off_t)offset);
        if (got <= 0) return WGML_ERR_BAD_FILE;   // an error, or the file shrank
        d += got;
        n -= (size_t)got;
        offset += (uint64_t)got;
    }
    return WGML_OK;
}
