/* The spool's record layer: see spool.h. The CRC32C comes from ISA-L
 * (crc32_iscsi), which uses the CPU's CRC instruction where there is one. */
#include "ingest/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char magic[8] = {'E', 'M', 'P', 'S', 'P', 'O', 'O', 'L'};
#define FORMAT_VERSION 1u

struct emp_spool {
    int fd;
    char *path;
    uint64_t max_bytes;
    uint64_t bytes;   /* end of the last whole record */
    uint64_t records;
    uint32_t held;    /* the header's count of events only memory holds */
    unsigned char *rbuf; /* emp_spool_read's buffer */
    size_t rcap;
};

uint32_t emp_crc32c(const void *p, size_t len)
{
    /* crc32_iscsi takes an int length: feed long inputs in pieces. */
    uint32_t crc = 0xFFFFFFFFu;
    const unsigned char *b = p;
    while (len > 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        crc = crc32_iscsi((unsigned char *)b, n, crc);
        b += n;
        len -= (size_t)n;
    }
    return ~crc;
}

static void put_u32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Read exactly `len` bytes at `off`: 1 done, 0 end of file first, -1 error. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 1;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Walk the records from the header on. `fn` (may be NULL) sees each whole
 * one; `*end` is the end of the last whole one, `*n` their count. Returns
 * 1 when fn stopped the walk, 0 at the end, -1 on a read or memory error. */
static int walk(int fd, emp_spool_fn fn, void *arg, uint64_t *end, uint64_t *n)
{
    uint64_t off = EMP_SPOOL_HEADER_BYTES;
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    *n = 0;
    for (;;) {
        unsigned char h[EMP_SPOOL_RECORD_OVERHEAD];
        int r = read_at(fd, h, sizeof h, off);
        if (r <= 0) {
            rc = r < 0 ? -1 : 0;
            break;
        }
        uint32_t len = get_u32(h), crc = get_u32(h + 4);
        if (len > EMP_SPOOL_RECORD_MAX)
            break; /* a torn or overwritten length */
        if (len > cap) {
            unsigned char *nb = realloc(buf, len);
            if (nb == NULL) {
                rc = -1;
                break;
            }
            buf = nb;
            cap = len;
        }
        r = read_at(fd, buf, len, off + sizeof h);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 0 || emp_crc32c(buf, len) != crc)
            break; /* torn (short) or corrupt: the whole records end here */
        off += sizeof h + len;
        (*n)++;
        if (fn != NULL && fn(arg, buf, len) != 0) {
            rc = 1;
            break;
        }
    }
    *end = off;
    free(buf);
    return rc;
}

enum emp_err emp_spool_open(const char *path, uint64_t max_bytes, struct emp_spool **out,
                            struct emp_spool_info *info, struct emp_error *err)
{
    *out = NULL;
    struct emp_spool_info in = {0};
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not open spool %s", path);
    /* One process per spool: a second would interleave its records. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return emp_error_set(err, EMP_EAGAIN, "another empiric process holds it",
                                 "spool %s is in use", path);
        return emp_error_set(err, EMP_EIO, strerror(e), "could not lock spool %s", path);
    }
    struct stat stb;
    if (fstat(fd, &stb) != 0) {
        int e = errno;
        close(fd);
        return emp_error_set(err, EMP_EIO, strerror(e), "could not open spool %s", path);
    }
    unsigned char h[EMP_SPOOL_HEADER_BYTES] = {0};
    if (stb.st_size == 0) {
        memcpy(h, magic, sizeof magic);
        put_u32(h + 8, FORMAT_VERSION);
        if (write_all(fd, h, sizeof h) != 0 || fdatasync(fd) != 0) {
            int e = errno;
            close(fd);
            return emp_error_set(err, EMP_EIO, strerror(e), "could not create spool %s", path);
        }
    } else {
        int r = read_at(fd, h, sizeof h, 0);
        if (r < 0 || (r > 0 && (memcmp(h, magic, sizeof magic) != 0 ||
                                get_u32(h + 8) != FORMAT_VERSION))) {
            close(fd);
            return emp_error_set(err, r < 0 ? EMP_EIO : EMP_EINVAL, NULL,
                                 "%s is not an Empiric spool (format %u expected)", path,
                                 FORMAT_VERSION);
        }
        if (r == 0) {
            /* Shorter than a header: a spool that died being created, if
             * what is there is the start of one; anything else is someone
             * else's file. */
            size_t have = (size_t)stb.st_size;
            unsigned char want[EMP_SPOOL_HEADER_BYTES] = {0};
            memcpy(want, magic, sizeof magic);
            put_u32(want + 8, FORMAT_VERSION);
            if (read_at(fd, h, have, 0) <= 0 || memcmp(h, want, have) != 0) {
                close(fd);
                return emp_error_set(err, EMP_EINVAL, NULL,
                                     "%s is not an Empiric spool (format %u expected)", path,
                                     FORMAT_VERSION);
            }
            memcpy(h, magic, sizeof magic);
            put_u32(h + 8, FORMAT_VERSION);
            if (ftruncate(fd, 0) != 0 || pwrite(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
                int e = errno;
                close(fd);
                return emp_error_set(err, EMP_EIO, strerror(e), "could not repair spool %s",
                                     path);
            }
            stb.st_size = (off_t)sizeof h;
        }
    }
    uint64_t end = 0;
    if (walk(fd, NULL, NULL, &end, &in.records) < 0) {
        close(fd);
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not read spool %s", path);
    }
    if ((uint64_t)stb.st_size > end) {
        in.cut_bytes = (uint64_t)stb.st_size - end;
        if (ftruncate(fd, (off_t)end) != 0) {
            int e = errno;
            close(fd);
            return emp_error_set(err, EMP_EIO, strerror(e), "could not cut spool %s", path);
        }
    }
    in.bytes = end;
    struct emp_spool *sp = calloc(1, sizeof *sp);
    char *p = strdup(path);
    if (sp == NULL || p == NULL || lseek(fd, 0, SEEK_END) < 0) {
        free(sp);
        free(p);
        close(fd);
        return emp_error_set(err, EMP_ENOMEM, NULL, "could not open spool %s", path);
    }
    *sp = (struct emp_spool){.fd = fd, .path = p, .max_bytes = max_bytes, .bytes = end,
                             .records = in.records, .held = get_u32(h + 12)};
    if (info != NULL)
        *info = in;
    *out = sp;
    return EMP_OK;
}

void emp_spool_close(struct emp_spool *sp)
{
    if (sp == NULL)
        return;
    close(sp->fd);
    free(sp->path);
    free(sp->rbuf);
    free(sp);
}

enum emp_err emp_spool_append(struct emp_spool *sp, const void *payload, size_t len,
                              struct emp_error *err)
{
    if (len > EMP_SPOOL_RECORD_MAX)
        return emp_error_set(err, EMP_EINVAL, NULL, "spool record of %zu bytes is too long", len);
    uint64_t need = EMP_SPOOL_RECORD_OVERHEAD + (uint64_t)len;
    if (sp->max_bytes != 0 && sp->bytes + need > sp->max_bytes)
        return emp_error_set(err, EMP_ERANGE, NULL, "spool %s is full (%llu bytes)", sp->path,
                             (unsigned long long)sp->max_bytes);
    unsigned char h[EMP_SPOOL_RECORD_OVERHEAD];
    put_u32(h, (uint32_t)len);
    put_u32(h + 4, emp_crc32c(payload, len));
    /* One write of header and payload where it fits, so that a record is
     * torn only by a crash in the middle of the kernel's copy. */
    unsigned char small[4096];
    int rc;
    if (len <= sizeof small - sizeof h) {
        memcpy(small, h, sizeof h);
        memcpy(small + sizeof h, payload, len);
        rc = write_all(sp->fd, small, sizeof h + len);
    } else {
        rc = write_all(sp->fd, h, sizeof h);
        if (rc == 0)
            rc = write_all(sp->fd, payload, len);
    }
    if (rc != 0) {
        int e = errno;
        /* Leave no half record behind for the next append to follow. */
        if (ftruncate(sp->fd, (off_t)sp->bytes) != 0 || lseek(sp->fd, 0, SEEK_END) < 0) {
            /* The next open cuts it. */
        }
        return emp_error_set(err, EMP_EIO, strerror(e), "could not append to spool %s",
                             sp->path);
    }
    sp->bytes += need;
    sp->records++;
    return EMP_OK;
}

enum emp_err emp_spool_sync(struct emp_spool *sp, struct emp_error *err)
{
    if (fdatasync(sp->fd) != 0)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not sync spool %s", sp->path);
    return EMP_OK;
}

enum emp_err emp_spool_replay(struct emp_spool *sp, emp_spool_fn fn, void *arg,
                              struct emp_error *err)
{
    uint64_t end, n;
    int r = walk(sp->fd, fn, arg, &end, &n);
    if (r < 0)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not read spool %s", sp->path);
    return r == 1 ? EMP_EAGAIN : EMP_OK;
}

enum emp_err emp_spool_read(struct emp_spool *sp, uint64_t *off, const void **payload,
                            size_t *len, struct emp_error *err)
{
    if (*off < EMP_SPOOL_HEADER_BYTES)
        *off = EMP_SPOOL_HEADER_BYTES;
    if (*off + EMP_SPOOL_RECORD_OVERHEAD > sp->bytes)
        return EMP_ENOTFOUND;
    unsigned char h[EMP_SPOOL_RECORD_OVERHEAD];
    if (read_at(sp->fd, h, sizeof h, *off) <= 0)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not read spool %s", sp->path);
    uint32_t n = get_u32(h), crc = get_u32(h + 4);
    if (n > EMP_SPOOL_RECORD_MAX || *off + sizeof h + n > sp->bytes)
        return emp_error_set(err, EMP_EINVAL, "a record's length runs past the end",
                             "spool %s is corrupt at offset %llu", sp->path,
                             (unsigned long long)*off);
    if (n > sp->rcap) {
        unsigned char *nb = realloc(sp->rbuf, n);
        if (nb == NULL)
            return emp_error_set(err, EMP_ENOMEM, NULL, "could not read spool %s", sp->path);
        sp->rbuf = nb;
        sp->rcap = n;
    }
    if (n > 0 && read_at(sp->fd, sp->rbuf, n, *off + sizeof h) <= 0)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not read spool %s", sp->path);
    if (emp_crc32c(sp->rbuf, n) != crc)
        return emp_error_set(err, EMP_EINVAL, "a record's CRC32C does not match",
                             "spool %s is corrupt at offset %llu", sp->path,
                             (unsigned long long)*off);
    *payload = sp->rbuf;
    *len = n;
    *off += sizeof h + n;
    return EMP_OK;
}

enum emp_err emp_spool_clear(struct emp_spool *sp, struct emp_error *err)
{
    if (ftruncate(sp->fd, EMP_SPOOL_HEADER_BYTES) != 0 || lseek(sp->fd, 0, SEEK_END) < 0 ||
        fdatasync(sp->fd) != 0)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not clear spool %s",
                             sp->path);
    sp->bytes = EMP_SPOOL_HEADER_BYTES;
    sp->records = 0;
    return EMP_OK;
}

enum emp_err emp_spool_set_held(struct emp_spool *sp, uint32_t n, struct emp_error *err)
{
    if (n == sp->held)
        return EMP_OK;
    unsigned char b[4];
    put_u32(b, n);
    /* In place: the header's block is the file's own, so this needs no room
     * a full file system would refuse. */
    if (pwrite(sp->fd, b, sizeof b, 12) != (ssize_t)sizeof b)
        return emp_error_set(err, EMP_EIO, strerror(errno), "could not update spool %s",
                             sp->path);
    sp->held = n;
    return EMP_OK;
}

uint32_t emp_spool_held(const struct emp_spool *sp)
{
    return sp->held;
}

uint64_t emp_spool_records(const struct emp_spool *sp)
{
    return sp->records;
}

uint64_t emp_spool_max_bytes(const struct emp_spool *sp)
{
    return sp->max_bytes;
}

uint64_t emp_spool_bytes(const struct emp_spool *sp)
{
    return sp->bytes;
}
