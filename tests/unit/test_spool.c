/* The spool's record layer: records come back whole and in order across a
 * reopen; a torn last record (the process died while writing it) and a
 * corrupted one are cut on open, and nothing after them is believed; the
 * bound refuses what does not fit; a file that is not a spool is refused
 * untouched. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ingest/spool.h"

struct seen {
    int n;
    char rec[16][64];
};

static int collect(void *arg, const void *payload, size_t len)
{
    struct seen *s = arg;
    assert_true(s->n < 16 && len < sizeof s->rec[0]);
    memcpy(s->rec[s->n], payload, len);
    s->rec[s->n][len] = '\0';
    s->n++;
    return 0;
}

static void temp_path(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/empiric-spool-test-%d-XXXXXX", (int)getpid());
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    close(fd);
    unlink(buf); /* the spool creates it */
}

static struct emp_spool *open_ok(const char *path, uint64_t max, struct emp_spool_info *info)
{
    struct emp_spool *sp = NULL;
    struct emp_error err = {0};
    enum emp_err rc = emp_spool_open(path, max, &sp, info, &err);
    if (rc != EMP_OK)
        fail_msg("open: %s: %s", err.msg, err.detail);
    return sp;
}

static void append_ok(struct emp_spool *sp, const char *s)
{
    struct emp_error err = {0};
    assert_int_equal(emp_spool_append(sp, s, strlen(s), &err), EMP_OK);
}

static void test_crc32c(void **state)
{
    (void)state;
    /* The standard check value of CRC-32C. */
    assert_int_equal(emp_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(emp_crc32c("", 0), 0);
}

static void test_round_trip_and_reopen(void **state)
{
    (void)state;
    char path[128];
    temp_path(path, sizeof path);
    struct emp_spool_info info;
    struct emp_spool *sp = open_ok(path, 0, &info);
    assert_int_equal(info.records, 0);
    append_ok(sp, "first");
    append_ok(sp, "");
    append_ok(sp, "third, a little longer");
    struct emp_error err = {0};
    assert_int_equal(emp_spool_sync(sp, &err), EMP_OK);
    emp_spool_close(sp);

    sp = open_ok(path, 0, &info);
    assert_int_equal(info.records, 3);
    assert_int_equal(info.cut_bytes, 0);
    struct seen s = {0};
    assert_int_equal(emp_spool_replay(sp, collect, &s, &err), EMP_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.rec[0], "first");
    assert_string_equal(s.rec[1], "");
    assert_string_equal(s.rec[2], "third, a little longer");
    /* Appends after a reopen follow the old records. */
    append_ok(sp, "fourth");
    memset(&s, 0, sizeof s);
    assert_int_equal(emp_spool_replay(sp, collect, &s, &err), EMP_OK);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.rec[3], "fourth");
    /* Cleared: empty, and still a spool. */
    assert_int_equal(emp_spool_clear(sp, &err), EMP_OK);
    assert_int_equal(emp_spool_records(sp), 0);
    assert_int_equal(emp_spool_bytes(sp), EMP_SPOOL_HEADER_BYTES);
    emp_spool_close(sp);
    sp = open_ok(path, 0, &info);
    assert_int_equal(info.records, 0);
    emp_spool_close(sp);
    unlink(path);
}

/* Cut the file to `size` bytes, as a process killed mid-write leaves it. */
static void truncate_to(const char *path, off_t size)
{
    assert_int_equal(truncate(path, size), 0);
}

static void test_torn_tail_is_cut(void **state)
{
    (void)state;
    char path[128];
    temp_path(path, sizeof path);
    struct emp_spool *sp = open_ok(path, 0, NULL);
    append_ok(sp, "whole one");
    append_ok(sp, "whole two");
    append_ok(sp, "the one being written");
    uint64_t full = emp_spool_bytes(sp);
    emp_spool_close(sp);
    /* Every length of tear inside the last record, header included. */
    uint64_t last = EMP_SPOOL_RECORD_OVERHEAD + strlen("the one being written");
    for (uint64_t keep = 1; keep < last; keep++) {
        char copy[160];
        snprintf(copy, sizeof copy, "%s.torn", path);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
        assert_int_equal(system(cmd), 0);
        truncate_to(copy, (off_t)(full - last + keep));
        struct emp_spool_info info;
        sp = open_ok(copy, 0, &info);
        assert_int_equal(info.records, 2);
        assert_int_equal(info.cut_bytes, keep);
        struct seen s = {0};
        struct emp_error err = {0};
        assert_int_equal(emp_spool_replay(sp, collect, &s, &err), EMP_OK);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.rec[1], "whole two");
        /* The next record goes where the torn one was. */
        append_ok(sp, "after");
        emp_spool_close(sp);
        sp = open_ok(copy, 0, &info);
        assert_int_equal(info.records, 3);
        assert_int_equal(info.cut_bytes, 0);
        emp_spool_close(sp);
        unlink(copy);
    }
    unlink(path);
}

static void test_corrupt_record_ends_the_spool(void **state)
{
    (void)state;
    char path[128];
    temp_path(path, sizeof path);
    struct emp_spool *sp = open_ok(path, 0, NULL);
    append_ok(sp, "good");
    append_ok(sp, "flipped");
    append_ok(sp, "after the flip");
    emp_spool_close(sp);
    /* Flip a payload byte of the second record. */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t at = EMP_SPOOL_HEADER_BYTES + EMP_SPOOL_RECORD_OVERHEAD + 4 + EMP_SPOOL_RECORD_OVERHEAD + 2;
    char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
    struct emp_spool_info info;
    sp = open_ok(path, 0, &info);
    assert_int_equal(info.records, 1);
    assert_true(info.cut_bytes > 0);
    emp_spool_close(sp);
    unlink(path);
}

static void test_bound_and_foreign_file(void **state)
{
    (void)state;
    char path[128];
    temp_path(path, sizeof path);
    uint64_t max = EMP_SPOOL_HEADER_BYTES + 2 * (EMP_SPOOL_RECORD_OVERHEAD + 4);
    struct emp_spool *sp = open_ok(path, max, NULL);
    append_ok(sp, "1234");
    append_ok(sp, "5678");
    struct emp_error err = {0};
    assert_int_equal(emp_spool_append(sp, "9", 1, &err), EMP_ERANGE);
    assert_int_equal(emp_spool_records(sp), 2);
    emp_spool_close(sp);

    /* Not a spool: refused, and left as it was. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is somebody's notes file\n", f);
    fclose(f);
    sp = NULL;
    assert_int_equal(emp_spool_open(path, 0, &sp, NULL, &err), EMP_EINVAL);
    assert_null(sp);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, (off_t)strlen("this is somebody's notes file\n"));

    /* Shorter than a header and not the start of one: refused too. */
    f = fopen(path, "w");
    fputs("notes", f);
    fclose(f);
    assert_int_equal(emp_spool_open(path, 0, &sp, NULL, &err), EMP_EINVAL);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 5);
    /* The start of a header (a spool that died being created): repaired. */
    f = fopen(path, "w");
    fputs("EMPSP", f);
    fclose(f);
    sp = open_ok(path, 0, NULL);
    assert_int_equal(emp_spool_records(sp), 0);
    append_ok(sp, "after");
    emp_spool_close(sp);
    unlink(path);
}

/* The header's count of events held in memory alone: 0 in a new spool,
 * kept in place across records, a clear and a reopen (a crash's next start
 * reads it), without growing the file. */
static void test_held_count(void **state)
{
    (void)state;
    char path[128];
    temp_path(path, sizeof path);
    struct emp_spool *sp = open_ok(path, 0, NULL);
    assert_int_equal(emp_spool_held(sp), 0);
    append_ok(sp, "first");
    uint64_t bytes = emp_spool_bytes(sp);
    struct emp_error err = {0};
    assert_int_equal(emp_spool_set_held(sp, 3, &err), EMP_OK);
    assert_int_equal(emp_spool_held(sp), 3);
    assert_int_equal(emp_spool_bytes(sp), bytes);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, (off_t)bytes);
    emp_spool_close(sp); /* as a crash would leave it */

    struct emp_spool_info info;
    sp = open_ok(path, 0, &info);
    assert_int_equal(emp_spool_held(sp), 3);
    assert_int_equal(info.records, 1);
    assert_int_equal(emp_spool_clear(sp, &err), EMP_OK);
    assert_int_equal(emp_spool_held(sp), 3);
    assert_int_equal(emp_spool_set_held(sp, 0, &err), EMP_OK);
    emp_spool_close(sp);
    sp = open_ok(path, 0, NULL);
    assert_int_equal(emp_spool_held(sp), 0);
    emp_spool_close(sp);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_round_trip_and_reopen),
        cmocka_unit_test(test_torn_tail_is_cut),
        cmocka_unit_test(test_corrupt_record_ends_the_spool),
        cmocka_unit_test(test_bound_and_foreign_file),
        cmocka_unit_test(test_held_count),
    };
    return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
