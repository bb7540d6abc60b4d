/* The invariants of core/assert.h fire where they are checked (Debug and
 * sanitizer builds: scripts/test runs this under both): a probe completed
 * twice, and a loop's timers touched from a thread other than the one that
 * runs it, each abort a child process with "invariant broken" on stderr.
 * Where invariants are not checked, the tests are skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/timeutil.h"
#include "probes/loop.h"
#include "probes/probe.h"

/* Run `fn` in a child with stderr to a pipe; true when the child died of
 * SIGABRT having written `want`. */
static bool child_aborts(void (*fn)(void), const char *want)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        fn();
        _exit(0); /* the invariant did not fire */
    }
    close(p[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
        print_message("child did not abort (status %d): %s\n", status, buf);
        return false;
    }
    if (strstr(buf, want) == NULL) {
        print_message("child aborted without \"%s\": %s\n", want, buf);
        return false;
    }
    return true;
}

static int dones;

static void count_done(struct emp_probe *pr)
{
    (void)pr;
    dones++;
}

static void done_twice(void)
{
    struct emp_loop *loop = emp_loop_new();
    struct emp_probe pr = {.loop = loop, .done = count_done, .in_flight = true};
    emp_probe_done(&pr);
    emp_probe_done(&pr); /* a second completion of the same start */
}

static void test_done_exactly_once(void **state)
{
    (void)state;
#ifndef EMP_ASSERTS
    skip();
#endif
    /* Once is fine. */
    struct emp_loop *loop = emp_loop_new();
    struct emp_probe pr = {.loop = loop, .done = count_done, .in_flight = true};
    dones = 0;
    emp_probe_done(&pr);
    assert_int_equal(dones, 1);
    assert_false(pr.in_flight);
    emp_loop_free(loop);
    assert_true(child_aborts(done_twice, "invariant broken: pr->in_flight"));
}

static struct emp_loop *shared_loop;
static struct emp_timer stray;

static void on_stop(struct emp_timer *t)
{
    emp_loop_stop(t->data);
}

static void *other_thread(void *arg)
{
    (void)arg;
    emp_loop_timer_start(shared_loop, &stray, emp_mono_us()); /* not the loop's thread */
    return NULL;
}

static void timer_from_another_thread(void)
{
    shared_loop = emp_loop_new();
    struct emp_timer t = {.cb = on_stop, .data = shared_loop};
    emp_loop_timer_start(shared_loop, &t, emp_loop_update_time(shared_loop));
    emp_loop_run(shared_loop, false); /* this thread is the loop's now */
    pthread_t th;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, NULL);
}

static void test_only_the_loop_thread(void **state)
{
    (void)state;
#ifndef EMP_ASSERTS
    skip();
#endif
    assert_true(
        child_aborts(timer_from_another_thread, "invariant broken: emp_loop_on_thread(loop)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_exactly_once),
        cmocka_unit_test(test_only_the_loop_thread),
    };
    return cmocka_run_group_tests_name("assert", tests, NULL, NULL);
}
