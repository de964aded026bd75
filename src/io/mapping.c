#include "io/onnx.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/status.h"

spd_status spd_mapping_open(const char *path, spd_mapping **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return spd_errorf(SPD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return spd_errorf(SPD_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return spd_errorf(SPD_ERR_IO, "%s: not a regular file", path);
    }
    spd_mapping *m = spd_calloc(1, sizeof *m);
    char *p = spd_strdup(path);
    if (!m || !p) {
        spd_free(m);
        spd_free(p);
        close(fd);
        return spd_errorf(SPD_ERR_NOMEM, "%s: out of memory", path);
    }
    m->path = p;
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *d = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (d == MAP_FAILED) {
            int e = errno;
            close(fd);
            spd_free(m->path);
            spd_free(m);
            return spd_errorf(SPD_ERR_IO, "%s: cannot map %zu bytes: %s", path, (size_t)st.st_size,
                              strerror(e));
        }
        m->data = d;
    }
    close(fd);
    *out = m;
    return SPD_OK;
}

void spd_mapping_free(spd_mapping *m)
{
    if (!m) return;
    if (m->data) munmap((void *)m->data, m->size);
    spd_free(m->path);
    spd_free(m);
}
