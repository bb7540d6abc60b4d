/* Invariants checked in debug and sanitizer builds: EMP_ASSERT(cond) aborts
 * with the condition, file, line and function when `cond` is false and
 * EMP_ASSERTS is defined (CMake's EMPIRIC_ASSERTS, on for Debug and
 * EMPIRIC_SANITIZE builds, so scripts/test runs the suite with them); in
 * other builds it evaluates nothing. Only for what must never happen
 * whatever the input: a bad input is an error to report, not an assertion. */
#ifndef EMP_ASSERT_H
#define EMP_ASSERT_H

#ifdef EMP_ASSERTS
#define EMP_ASSERT(cond) ((cond) ? (void)0 : emp_assert_fail(#cond, __FILE__, __LINE__, __func__))
#else
#define EMP_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

/* Print "invariant broken: COND (FILE:LINE, FUNC)" on stderr and abort. */
void emp_assert_fail(const char *cond, const char *file, int line, const char *func)
    __attribute__((noreturn));

#endif
