/* faultd: a fault-injecting target for Empiric's benchmarks and end-to-end
 * tests. It serves HTTP and plain TCP on 127.0.0.1, enacts a schedule of
 * fault windows, and writes the ground truth it really enacted, one JSON line
 * per window with the wall-clock times at which it actually switched.
 *
 * Usage: faultd [--http-port N] [--tcp-port N] [--schedule FILE]
 *               [--window "OFFSET_MS DURATION_MS MODE [PARAM_MS]"]...
 *               [--truth FILE] [--margin-ms N] [--max-seconds N]
 *
 * Schedule lines: OFFSET_MS DURATION_MS MODE [PARAM_MS]; '#' starts a comment.
 * Offsets count from the moment the listeners are bound (printed as t0_us).
 * Modes: ok refuse reset http500 hang slow garbage endless flap; PARAM_MS is
 * the delay for slow (default 2000) and the half-period for flap (default 200;
 * flap alternates ok / http500, starting with ok).
 *
 * One thread (main) owns the listeners, the clock and the truth file; each
 * accepted connection gets a detached thread, at most MAX_CONNS at once.
 * Every wait is bounded by the window end, a fixed timeout, or shutdown. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "faultio.h"

#define MAX_WINDOWS 100000
#define MAX_CONNS 1024
#define REQ_MAX 16384
#define REQ_TIMEOUT_MS 5000
#define CONN_STACK (256 * 1024)

enum mode {
  MODE_OK, MODE_REFUSE, MODE_RESET, MODE_HTTP500, MODE_HANG, MODE_SLOW,
  MODE_GARBAGE, MODE_ENDLESS, MODE_FLAP, MODE_COUNT
};

static const char *const mode_names[MODE_COUNT] = {
  "ok", "refuse", "reset", "http500", "hang", "slow", "garbage", "endless", "flap"
};

struct window {
  int64_t offset_ms;
  int64_t duration_ms;
  enum mode mode;
  int64_t param_ms;
};

struct schedule {
  struct window *w;
  size_t n, cap;
};

enum listener_kind { KIND_HTTP, KIND_TCP };

/* Shared between main and the connection threads; only atomics change. */
struct ctx {
  atomic_int stopping;
  atomic_int conns;
};

/* What a connection thread must do; owned (and freed) by the thread. */
struct conn {
  struct ctx *ctx;
  int fd;
  enum listener_kind kind;
  enum mode mode;
  int64_t param_ms;
  int64_t window_end_ns; /* CLOCK_MONOTONIC; bounds hang and endless */
};

static int64_t wall_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Writes RFC 3339 UTC with microseconds into buf (at least 32 bytes). */
static void rfc3339(int64_t us, char *buf, size_t len)
{
  time_t s = (time_t)(us / 1000000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char base[24];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, len, "%s.%06" PRId64 "Z", base, us % 1000000);
}

static void log_event(const char *level, const char *msg, const char *detail)
{
  fprintf(stderr, "level=%s msg=\"%s\"%s%s\n", level, msg,
          detail ? " detail=" : "", detail ? detail : "");
}

static int parse_mode(const char *s)
{
  for (int i = 0; i < MODE_COUNT; i++)
    if (strcmp(s, mode_names[i]) == 0)
      return i;
  return -1;
}

/* Parses one schedule line into sched. Returns 0, 1 for a blank line, or -1
 * with a message in err. */
static int parse_window(char *line, struct schedule *sched, char *err, size_t errlen)
{
  char *hash = strchr(line, '#');
  if (hash)
    *hash = '\0';
  char *save = NULL;
  char *tok[5];
  int n = 0;
  for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
    if (n == 5) {
      snprintf(err, errlen, "too many fields");
      return -1;
    }
    tok[n++] = t;
  }
  if (n == 0)
    return 1;
  if (n < 3) {
    snprintf(err, errlen, "expected OFFSET_MS DURATION_MS MODE [PARAM_MS]");
    return -1;
  }
  if (n > 4) {
    snprintf(err, errlen, "too many fields");
    return -1;
  }
  struct window w = { 0 };
  if (!fault_parse_i64(tok[0], 0, 86400000, &w.offset_ms)) {
    snprintf(err, errlen, "OFFSET_MS: must be an integer in 0..86400000, got \"%s\"", tok[0]);
    return -1;
  }
  if (!fault_parse_i64(tok[1], 1, 86400000, &w.duration_ms)) {
    snprintf(err, errlen, "DURATION_MS: must be an integer in 1..86400000, got \"%s\"", tok[1]);
    return -1;
  }
  int m = parse_mode(tok[2]);
  if (m < 0) {
    snprintf(err, errlen, "MODE: unknown mode \"%s\"", tok[2]);
    return -1;
  }
  w.mode = (enum mode)m;
  w.param_ms = w.mode == MODE_SLOW ? 2000 : w.mode == MODE_FLAP ? 200 : 0;
  if (n == 4 && !fault_parse_i64(tok[3], 1, 3600000, &w.param_ms)) {
    snprintf(err, errlen, "PARAM_MS: must be an integer in 1..3600000, got \"%s\"", tok[3]);
    return -1;
  }
  if (sched->n > 0) {
    const struct window *prev = &sched->w[sched->n - 1];
    if (w.offset_ms < prev->offset_ms + prev->duration_ms) {
      snprintf(err, errlen, "window overlaps or precedes the previous one");
      return -1;
    }
  }
  if (sched->n == MAX_WINDOWS) {
    snprintf(err, errlen, "more than %d windows", MAX_WINDOWS);
    return -1;
  }
  if (sched->n == sched->cap) {
    size_t cap = sched->cap ? sched->cap * 2 : 64;
    struct window *nw = realloc(sched->w, cap * sizeof *nw);
    if (!nw) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    sched->w = nw;
    sched->cap = cap;
  }
  sched->w[sched->n++] = w;
  return 0;
}

static int load_schedule(const char *path, struct schedule *sched)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "faultd: could not open schedule %s: %s\n", path, strerror(errno));
    return -1;
  }
  char line[512];
  char err[160];
  int lineno = 0;
  int rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (parse_window(line, sched, err, sizeof err) < 0) {
      fprintf(stderr, "faultd: %s:%d: %s\n", path, lineno, err);
      rc = -1;
      break;
    }
  }
  fclose(f);
  return rc;
}

/* Reads the request head; false if the peer went away or shutdown began. */
static bool read_request(struct ctx *ctx, int fd)
{
  char req[REQ_MAX];
  return fault_read_request(fd, req, sizeof req, &ctx->stopping, REQ_TIMEOUT_MS);
}

/* Sends all of buf within REQ_TIMEOUT_MS, unless the peer goes or we stop. */
static bool send_soon(struct ctx *ctx, int fd, const void *buf, size_t len)
{
  return fault_send_all(fd, buf, len, &ctx->stopping, fault_mono_ns() + REQ_TIMEOUT_MS * 1000000LL);
}

static void respond(struct ctx *ctx, int fd, int status)
{
  char buf[256];
  const char *reason = status == 200 ? "OK" : "Internal Server Error";
  const char *body = status == 200 ? "ok\n" : "fault: http500\n";
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s", status, reason, strlen(body), body);
  send_soon(ctx, fd, buf, (size_t)n);
}

static void send_garbage(struct ctx *ctx, int fd)
{
  static const char junk[] = "\x16\x03\x01\xff\xfe garbage: this is not HTTP \x00\x01\x02\r\n\r\n";
  send_soon(ctx, fd, junk, sizeof junk - 1);
}

/* A 200 with a chunked body that never ends; stops when the window does
 * (the connection is then closed without the last chunk). */
static void send_endless(struct ctx *ctx, int fd, int64_t until_ns)
{
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  if (!fault_send_all(fd, head, sizeof head - 1, &ctx->stopping, until_ns))
    return;
  char chunk[1024 + 16];
  int n = snprintf(chunk, sizeof chunk, "400\r\n");
  memset(chunk + n, 'x', 1024);
  memcpy(chunk + n + 1024, "\r\n", 2);
  size_t len = (size_t)n + 1024 + 2;
  while (fault_send_all(fd, chunk, len, &ctx->stopping, until_ns))
    fault_wait_until(&ctx->stopping, fault_mono_ns() + 10 * 1000000LL);
}

static void *conn_main(void *arg)
{
  struct conn *c = arg;
  struct ctx *ctx = c->ctx;
  int fd = c->fd;
  bool http = c->kind == KIND_HTTP;
  switch (c->mode) {
  case MODE_HANG:
    fault_hold_silent(fd, &ctx->stopping, c->window_end_ns);
    break;
  case MODE_SLOW:
    if (!http || read_request(ctx, fd)) {
      fault_wait_until(&ctx->stopping, fault_mono_ns() + c->param_ms * 1000000LL);
      if (http)
        respond(ctx, fd, 200);
      else
        send_soon(ctx, fd, "ok\n", 3);
    }
    break;
  case MODE_GARBAGE:
    if (http)
      read_request(ctx, fd);
    send_garbage(ctx, fd);
    break;
  case MODE_ENDLESS:
    if (!http) {
      send_soon(ctx, fd, "ok\n", 3);
      break;
    }
    if (read_request(ctx, fd))
      send_endless(ctx, fd, c->window_end_ns);
    break;
  case MODE_HTTP500:
    if (!http) {
      send_soon(ctx, fd, "ok\n", 3);
      break;
    }
    if (read_request(ctx, fd))
      respond(ctx, fd, 500);
    break;
  default:
    if (!http) {
      send_soon(ctx, fd, "ok\n", 3);
      break;
    }
    if (read_request(ctx, fd))
      respond(ctx, fd, 200);
    break;
  }
  shutdown(fd, SHUT_WR);
  close(fd);
  free(c);
  atomic_fetch_sub(&ctx->conns, 1);
  return NULL;
}

/* The mode a connection accepted now gets; flap resolves to ok or http500. */
static enum mode effective_mode(const struct window *w, int64_t win_start_ns, int64_t now_ns)
{
  if (!w)
    return MODE_OK;
  if (w->mode != MODE_FLAP)
    return w->mode;
  int64_t phase = (now_ns - win_start_ns) / (w->param_ms * 1000000LL);
  return phase % 2 == 0 ? MODE_OK : MODE_HTTP500;
}

static void accept_some(struct ctx *ctx, int lfd, enum listener_kind kind,
                        const struct window *w, int64_t win_start_ns, int64_t win_end_ns,
                        const pthread_attr_t *attr)
{
  for (int i = 0; i < 64; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
      return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    enum mode m = effective_mode(w, win_start_ns, fault_mono_ns());
    if (m == MODE_RESET || m == MODE_REFUSE) {
      fault_close_rst(fd);
      continue;
    }
    if (atomic_load(&ctx->conns) >= MAX_CONNS) {
      log_event("warn", "too many connections, resetting", NULL);
      fault_close_rst(fd);
      continue;
    }
    struct conn *c = malloc(sizeof *c);
    if (!c) {
      fault_close_rst(fd);
      continue;
    }
    *c = (struct conn){ .ctx = ctx, .fd = fd, .kind = kind, .mode = m,
                        .param_ms = w ? w->param_ms : 0,
                        .window_end_ns = w ? win_end_ns : fault_mono_ns() };
    if (!fault_start_thread(attr, conn_main, c, &ctx->conns)) {
      free(c);
      fault_close_rst(fd);
    }
  }
}

static void write_truth(FILE *f, const struct window *w, int64_t t0_wall_us,
                        int64_t start_us, int64_t end_us, bool cut_short)
{
  if (!f)
    return;
  char s[40], e[40];
  rfc3339(start_us, s, sizeof s);
  rfc3339(end_us, e, sizeof e);
  fprintf(f, "{\"mode\":\"%s\",\"param_ms\":%" PRId64 ",\"start\":\"%s\",\"end\":\"%s\","
          "\"start_us\":%" PRId64 ",\"end_us\":%" PRId64 ",\"planned_start_us\":%" PRId64
          ",\"planned_end_us\":%" PRId64 ",\"cut_short\":%s}\n",
          mode_names[w->mode], w->param_ms, s, e, start_us, end_us,
          t0_wall_us + w->offset_ms * 1000, t0_wall_us + (w->offset_ms + w->duration_ms) * 1000,
          cut_short ? "true" : "false");
  fflush(f);
}

static void usage(void)
{
  fprintf(stderr,
          "usage: faultd [--http-port N] [--tcp-port N] [--schedule FILE]\n"
          "              [--window \"OFFSET_MS DURATION_MS MODE [PARAM_MS]\"]...\n"
          "              [--truth FILE] [--margin-ms N] [--max-seconds N]\n"
          "modes: ok refuse reset http500 hang slow garbage endless flap\n");
}

int main(int argc, char **argv)
{
  int rc = 1;
  struct schedule sched = { 0 };
  struct ctx ctx;
  atomic_init(&ctx.stopping, 0);
  atomic_init(&ctx.conns, 0);
  int64_t http_port = 0, tcp_port = 0, margin_ms = 1000, max_seconds = 3600;
  const char *truth_path = NULL;
  FILE *truth = NULL;
  int lfd[2] = { -1, -1 };
  int port[2];
  int sfd = -1;
  pthread_attr_t attr;
  bool attr_ok = false;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage();
      rc = 0;
      goto out;
    }
    if (!v) {
      fprintf(stderr, "faultd: %s: missing value\n", a);
      usage();
      goto out;
    }
    i++;
    if (strcmp(a, "--http-port") == 0 || strcmp(a, "--tcp-port") == 0) {
      if (!fault_parse_i64(v, 0, 65535, a[2] == 'h' ? &http_port : &tcp_port)) {
        fprintf(stderr, "faultd: %s: must be a port 0..65535, got \"%s\"\n", a, v);
        goto out;
      }
    } else if (strcmp(a, "--margin-ms") == 0) {
      if (!fault_parse_i64(v, 0, 3600000, &margin_ms)) {
        fprintf(stderr, "faultd: --margin-ms: must be 0..3600000, got \"%s\"\n", v);
        goto out;
      }
    } else if (strcmp(a, "--max-seconds") == 0) {
      if (!fault_parse_i64(v, 1, 7 * 86400, &max_seconds)) {
        fprintf(stderr, "faultd: --max-seconds: must be 1..604800, got \"%s\"\n", v);
        goto out;
      }
    } else if (strcmp(a, "--truth") == 0) {
      truth_path = v;
    } else if (strcmp(a, "--schedule") == 0) {
      if (load_schedule(v, &sched) < 0)
        goto out;
    } else if (strcmp(a, "--window") == 0) {
      char line[512], err[160];
      snprintf(line, sizeof line, "%s", v);
      if (parse_window(line, &sched, err, sizeof err) != 0) {
        fprintf(stderr, "faultd: --window \"%s\": %s\n", v, err);
        goto out;
      }
    } else {
      fprintf(stderr, "faultd: unknown option %s\n", a);
      usage();
      goto out;
    }
  }

  if (truth_path) {
    truth = fopen(truth_path, "w");
    if (!truth) {
      fprintf(stderr, "faultd: could not open truth file %s: %s\n", truth_path, strerror(errno));
      goto out;
    }
  }

  /* Signals arrive through a signalfd in the main poll; threads inherit the mask. */
  sfd = fault_signalfd();
  if (sfd < 0) {
    fprintf(stderr, "faultd: could not create signalfd: %s\n", strerror(errno));
    goto out;
  }
  if (fault_thread_attr(&attr, CONN_STACK) != 0)
    goto out;
  attr_ok = true;

  port[KIND_HTTP] = (int)http_port;
  port[KIND_TCP] = (int)tcp_port;
  for (int k = 0; k < 2; k++) {
    lfd[k] = fault_listen(SOCK_STREAM, htonl(INADDR_LOOPBACK), &port[k]);
    if (lfd[k] < 0) {
      fprintf(stderr, "faultd: could not listen on 127.0.0.1:%d: %s\n", port[k], strerror(errno));
      goto out;
    }
  }

  int64_t t0_ns = fault_mono_ns();
  int64_t t0_wall = wall_us();
  int64_t end_offset_ms = sched.n ? sched.w[sched.n - 1].offset_ms + sched.w[sched.n - 1].duration_ms : 0;
  int64_t stop_ns = t0_ns + (end_offset_ms + margin_ms) * 1000000LL;
  int64_t hard_stop_ns = t0_ns + max_seconds * 1000000000LL;
  if (stop_ns > hard_stop_ns || sched.n == 0)
    stop_ns = hard_stop_ns;
  printf("http_port=%d tcp_port=%d t0_us=%" PRId64 "\n", port[KIND_HTTP], port[KIND_TCP], t0_wall);
  fflush(stdout);

  size_t next = 0;                 /* next window to start */
  const struct window *cur = NULL; /* window being enacted */
  int64_t cur_start_ns = 0, cur_end_ns = 0, cur_start_us = 0;
  bool signalled = false;

  while (!signalled) {
    int64_t now = fault_mono_ns();
    /* Enact every boundary that is due, in order. */
    for (;;) {
      if (cur && now >= cur_end_ns) {
        if (cur->mode == MODE_REFUSE) {
          for (int k = 0; k < 2; k++) {
            int want = port[k];
            lfd[k] = fault_listen(SOCK_STREAM, htonl(INADDR_LOOPBACK), &want);
            if (lfd[k] < 0)
              log_event("error", "could not reopen listener", strerror(errno));
          }
        }
        write_truth(truth, cur, t0_wall, cur_start_us, wall_us(), false);
        cur = NULL;
        continue;
      }
      if (!cur && next < sched.n && now >= t0_ns + sched.w[next].offset_ms * 1000000LL) {
        cur = &sched.w[next++];
        cur_start_ns = t0_ns + cur->offset_ms * 1000000LL;
        cur_end_ns = cur_start_ns + cur->duration_ms * 1000000LL;
        if (cur->mode == MODE_REFUSE) {
          for (int k = 0; k < 2; k++) {
            if (lfd[k] >= 0)
              close(lfd[k]);
            lfd[k] = -1;
          }
        }
        cur_start_us = wall_us();
        continue;
      }
      break;
    }
    if (now >= stop_ns)
      break;

    int64_t wake = stop_ns;
    if (cur && cur_end_ns < wake)
      wake = cur_end_ns;
    if (!cur && next < sched.n && t0_ns + sched.w[next].offset_ms * 1000000LL < wake)
      wake = t0_ns + sched.w[next].offset_ms * 1000000LL;
    int64_t left = wake - fault_mono_ns();
    if (left < 0)
      left = 0;
    struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };

    struct pollfd p[3] = {
      { .fd = sfd, .events = POLLIN },
      { .fd = lfd[KIND_HTTP], .events = POLLIN },
      { .fd = lfd[KIND_TCP], .events = POLLIN },
    };
    int r = ppoll(p, 3, &ts, NULL);
    if (r < 0 && errno != EINTR) {
      log_event("error", "poll failed", strerror(errno));
      break;
    }
    if (r <= 0)
      continue;
    if ((p[0].revents & POLLIN) && fault_stop_signalled(sfd))
      signalled = true;
    for (int k = 0; k < 2; k++)
      if (lfd[k] >= 0 && (p[1 + k].revents & POLLIN))
        accept_some(&ctx, lfd[k], (enum listener_kind)k, cur, cur_start_ns, cur_end_ns, &attr);
  }

  if (cur)
    write_truth(truth, cur, t0_wall, cur_start_us, wall_us(), true);
  log_event("info", signalled ? "stopping on signal" : "schedule done, stopping", NULL);
  rc = 0;

out:
  atomic_store(&ctx.stopping, 1);
  for (int k = 0; k < 2; k++)
    if (lfd[k] >= 0)
      close(lfd[k]);
  fault_wait_conns(&ctx.conns);
  if (attr_ok)
    pthread_attr_destroy(&attr);
  if (sfd >= 0)
    close(sfd);
  if (truth)
    fclose(truth);
  free(sched.w);
  return rc;
}
