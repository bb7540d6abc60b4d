/* The spool: an append-only local file of records that must outlive a
 * database that is away or a process that dies (issue 6). This layer knows
 * records, not events: each is a length, a CRC32C of its bytes and the
 * bytes. Opening an existing spool scans it and cuts a torn or corrupt
 * tail (a record the process was writing when it died), so what a reader
 * gets is exactly the records that were whole.
 *
 * File: a 16-byte header ("EMPSPOOL", format version 1 as u32 LE, u32 LE
 * count of events the writer holds in memory alone: what a crash would
 * lose, 0 normally), then records: u32 LE payload length, u32 LE CRC32C of
 * the payload, the payload. Records are at most EMP_SPOOL_RECORD_MAX
 * bytes.
 *
 * Durability: emp_spool_append writes with write(2) (the kernel has it: a
 * killed process loses nothing); emp_spool_sync calls fdatasync (a machine
 * that loses power keeps what was synced). The caller decides how often to
 * sync. One thread at a time per spool. */
#ifndef EMP_SPOOL_H
#define EMP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define EMP_SPOOL_RECORD_MAX (1u << 20)
#define EMP_SPOOL_HEADER_BYTES 16
#define EMP_SPOOL_RECORD_OVERHEAD 8

struct emp_spool;

/* What opening found. */
struct emp_spool_info {
    uint64_t records;     /* whole records in the file */
    uint64_t bytes;       /* file size after the cut, header included */
    uint64_t cut_bytes;   /* bytes of a torn or corrupt tail removed */
};

/* Open `path`, creating it (mode 0600) when missing, and lock it (flock):
 * a spool another process holds is refused with EMP_EAGAIN. A file that is
 * not a spool (wrong magic or version) is refused with EMP_EINVAL and left
 * as it is. `max_bytes` bounds the file (header included; 0: no bound). */
enum emp_err emp_spool_open(const char *path, uint64_t max_bytes, struct emp_spool **out,
                            struct emp_spool_info *info, struct emp_error *err);
void emp_spool_close(struct emp_spool *sp);

/* Append one record. EMP_ERANGE when it would pass max_bytes (nothing is
 * written: the caller decides what to drop), EMP_EINVAL when longer than
 * EMP_SPOOL_RECORD_MAX, EMP_EIO when the write failed (the file is cut back
 * to its last whole record). */
enum emp_err emp_spool_append(struct emp_spool *sp, const void *payload, size_t len,
                              struct emp_error *err);
enum emp_err emp_spool_sync(struct emp_spool *sp, struct emp_error *err);

/* Every whole record in order. `fn` returns 0 to go on, anything else to
 * stop (returned as EMP_EAGAIN). */
typedef int (*emp_spool_fn)(void *arg, const void *payload, size_t len);
enum emp_err emp_spool_replay(struct emp_spool *sp, emp_spool_fn fn, void *arg,
                              struct emp_error *err);

/* The whole record at `*off` (EMP_SPOOL_HEADER_BYTES, or less, for the
 * first): `*payload` points into the spool's buffer, valid until the next
 * read or close; `*off` moves past the record. EMP_ENOTFOUND at the end;
 * EMP_EINVAL when the record no longer matches its CRC (the disk changed it
 * after open). */
enum emp_err emp_spool_read(struct emp_spool *sp, uint64_t *off, const void **payload,
                            size_t *len, struct emp_error *err);

/* Drop every record (after they were all written elsewhere). */
enum emp_err emp_spool_clear(struct emp_spool *sp, struct emp_error *err);

/* The header's count of events held in memory alone (see the format):
 * set by the writer whenever it changes, in place (no room needed), and
 * read at the next start, which can then say what a crash lost. */
enum emp_err emp_spool_set_held(struct emp_spool *sp, uint32_t n, struct emp_error *err);
uint32_t emp_spool_held(const struct emp_spool *sp);

uint64_t emp_spool_records(const struct emp_spool *sp);
uint64_t emp_spool_bytes(const struct emp_spool *sp);
uint64_t emp_spool_max_bytes(const struct emp_spool *sp); /* 0: no bound */

/* CRC32C (Castagnoli) of `len` bytes, as iSCSI and ext4 use it. */
uint32_t emp_crc32c(const void *p, size_t len);

#endif
