/* Fuzz target: the spool reader on a file holding the input's bytes. Opening
 * must not crash, must refuse a file that is not a spool without touching
 * it, and must keep exactly the leading records that are whole: a length
 * within bounds, the payload all there, and a CRC32C that matches (checked
 * against a CRC computed here, bit by bit, not with ISA-L). Replay and
 * emp_spool_read must hand out exactly those; records appended after them
 * must come back after them, and across a reopen, which cuts nothing more.
 * The file is a memfd opened by its /proc path: no disk, nothing left
 * behind. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "ingest/journal.h"
#include "ingest/spool.h"

/* CRC32C (Castagnoli, reflected 0x82F63B78), as RFC 3720 defines it. */
static uint32_t ref_crc32c(const uint8_t *p, size_t len)
{
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = true;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static uint32_t le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

struct rec {
    const uint8_t *p;
    size_t len;
};

/* What the spool must hold, from the format in spool.h. */
struct model {
    struct rec *r;
    size_t n, cap;
    uint64_t end;
};

static void model_push(struct model *m, const uint8_t *p, size_t len)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->r = realloc(m->r, m->cap * sizeof *m->r);
        FUZZ_CHECK(m->r != NULL);
    }
    m->r[m->n++] = (struct rec){p, len};
}

static void model_scan(const uint8_t *data, size_t size, struct model *m)
{
    uint64_t off = EMP_SPOOL_HEADER_BYTES;
    m->n = 0;
    while (off + EMP_SPOOL_RECORD_OVERHEAD <= size) {
        uint32_t len = le32(data + off), crc = le32(data + off + 4);
        if (len > EMP_SPOOL_RECORD_MAX || off + EMP_SPOOL_RECORD_OVERHEAD + len > size)
            break;
        const uint8_t *payload = data + off + EMP_SPOOL_RECORD_OVERHEAD;
        if (ref_crc32c(payload, len) != crc)
            break;
        model_push(m, payload, len);
        off += EMP_SPOOL_RECORD_OVERHEAD + len;
    }
    m->end = off;
}

static void model_add(struct model *m, const uint8_t *p, size_t len)
{
    model_push(m, p, len);
    m->end += EMP_SPOOL_RECORD_OVERHEAD + len;
}

struct cursor {
    const struct model *m;
    size_t i;
};

static int expect_next(void *arg, const void *payload, size_t len)
{
    struct cursor *c = arg;
    FUZZ_CHECK(c->i < c->m->n);
    const struct rec *r = &c->m->r[c->i++];
    FUZZ_CHECK(len == r->len && (len == 0 || memcmp(payload, r->p, len) == 0));
    return 0;
}

/* Replay and emp_spool_read both give exactly m's records. */
/* The writer's reading of a record: refused, or events that encode back to
 * exactly the same bytes. */
static void check_journal(const void *payload, size_t len)
{
    static unsigned char again[EMP_SPOOL_RECORD_MAX];
    struct emp_journal_head h;
    struct emp_event *ev = NULL;
    struct emp_error err;
    enum emp_err rc = emp_journal_decode(payload, len, &h, &ev, &err);
    if (rc != EMP_OK) {
        FUZZ_CHECK(rc == EMP_EINVAL && ev == NULL);
        return;
    }
    uint32_t n = 0;
    for (const struct emp_event *e = ev; e != NULL; e = e->next, n++) {
        FUZZ_CHECK(e->seq == h.first_seq + n);
        FUZZ_CHECK(strlen(e->r.err_class) < EMP_ERRCLASS_MAX);
        FUZZ_CHECK(strlen(e->r.message) < EMP_ERRMSG_MAX);
    }
    FUZZ_CHECK(n == h.count);
    FUZZ_CHECK(emp_journal_encode(&h, ev, n, again, sizeof again) == len);
    FUZZ_CHECK(memcmp(again, payload, len) == 0);
    while (ev != NULL) {
        struct emp_event *next = ev->next;
        free(ev);
        ev = next;
    }
}

static void check_records(struct emp_spool *sp, const struct model *m)
{
    struct emp_error err;
    struct cursor c = {m, 0};
    FUZZ_CHECK(emp_spool_replay(sp, expect_next, &c, &err) == EMP_OK);
    FUZZ_CHECK(c.i == m->n);
    FUZZ_CHECK(emp_spool_records(sp) == m->n && emp_spool_bytes(sp) == m->end);

    uint64_t off = 0;
    const void *payload;
    size_t len;
    c.i = 0;
    enum emp_err rc = emp_spool_read(sp, &off, &payload, &len, &err);
    for (; rc == EMP_OK; rc = emp_spool_read(sp, &off, &payload, &len, &err)) {
        expect_next(&c, payload, len);
        check_journal(payload, len);
    }
    FUZZ_CHECK(rc == EMP_ENOTFOUND && c.i == m->n && off == m->end);
}

static uint64_t file_size(int fd)
{
    struct stat st;
    FUZZ_CHECK(fstat(fd, &st) == 0);
    return (uint64_t)st.st_size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    static struct model m;
    if (fd < 0) {
        fd = memfd_create("empiric-fuzz-spool", MFD_CLOEXEC);
        FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);

    struct emp_spool *sp = NULL;
    struct emp_spool_info info;
    struct emp_error err;
    enum emp_err rc = emp_spool_open(path, 0, &sp, &info, &err);
    /* A file shorter than a header is a spool that died being created
     * only when its bytes are the start of a header. */
    static const uint8_t want[EMP_SPOOL_HEADER_BYTES] = {'E', 'M', 'P', 'S', 'P', 'O', 'O', 'L',
                                                         1, 0, 0, 0, 0, 0, 0, 0};
    bool header_ok = size < EMP_SPOOL_HEADER_BYTES
                         ? memcmp(data, want, size) == 0
                         : memcmp(data, "EMPSPOOL", 8) == 0 && le32(data + 8) == 1;
    if (!header_ok) {
        /* Not a spool: refused, and left as it was. */
        FUZZ_CHECK(rc == EMP_EINVAL && sp == NULL);
        FUZZ_CHECK(file_size(fd) == size);
        uint8_t head[64];
        size_t k = size < sizeof head ? size : sizeof head;
        FUZZ_CHECK(pread(fd, head, k, 0) == (ssize_t)k && memcmp(head, data, k) == 0);
        return 0;
    }
    FUZZ_CHECK(rc == EMP_OK && sp != NULL);
    if (size < EMP_SPOOL_HEADER_BYTES) {
        m.n = 0; /* created, or repaired */
        m.end = EMP_SPOOL_HEADER_BYTES;
    } else {
        model_scan(data, size, &m);
    }
    FUZZ_CHECK(info.records == m.n && info.bytes == m.end);
    FUZZ_CHECK(info.cut_bytes == (size > m.end ? size - m.end : 0));
    FUZZ_CHECK(file_size(fd) == m.end);
    check_records(sp, &m);

    /* Appends follow the whole records, never a cut tail. */
    static const char tail[] = "appended after the fuzzed records";
    size_t first = size < 300 ? size : 300;
    FUZZ_CHECK(emp_spool_append(sp, data, first, &err) == EMP_OK);
    model_add(&m, data, first);
    FUZZ_CHECK(emp_spool_append(sp, tail, sizeof tail - 1, &err) == EMP_OK);
    model_add(&m, (const uint8_t *)tail, sizeof tail - 1);
    check_records(sp, &m);
    emp_spool_close(sp);

    /* Reopened with a bound that is nearly reached: nothing more is cut, and
     * what does not fit is refused without being written. */
    sp = NULL;
    FUZZ_CHECK(emp_spool_open(path, m.end + EMP_SPOOL_RECORD_OVERHEAD + 1, &sp, &info, &err) ==
               EMP_OK);
    FUZZ_CHECK(info.records == m.n && info.bytes == m.end && info.cut_bytes == 0);
    FUZZ_CHECK(emp_spool_append(sp, tail, 2, &err) == EMP_ERANGE);
    FUZZ_CHECK(emp_spool_append(sp, tail, 1, &err) == EMP_OK);
    model_add(&m, (const uint8_t *)tail, 1);
    check_records(sp, &m);
    FUZZ_CHECK(file_size(fd) == m.end);
    emp_spool_close(sp);
    return 0;
}
