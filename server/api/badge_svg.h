/* Status badges as SVG: the flat two-part look ("uptime 30d" | "99.95%"),
 * text widths from a Verdana 11px width table, the colors for an
 * availability and a state, and the ?window= parser. Pure: no I/O. */
#ifndef EMP_BADGE_H
#define EMP_BADGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define EMP_BADGE_GREY "#9f9f9f"
#define EMP_BADGE_BRIGHTGREEN "#4c1"
#define EMP_BADGE_GREEN "#97ca00"
#define EMP_BADGE_YELLOW "#dfb317"
#define EMP_BADGE_RED "#e05d44"
#define EMP_BADGE_LABEL "#555"

/* Horizontal padding on each side of a text, in px. */
#define EMP_BADGE_PAD_PX 5

/* Width of `text` (UTF-8) in tenths of a pixel, Verdana 11px: ASCII from a
 * table of advance widths, any other character as wide as 'M'. */
int emp_badge_text_width_dpx(const char *text);

/* The SVG of a badge "label | value", the value on `color` (a CSS color,
 * written as given: pass a constant). Texts are escaped. Returns a new
 * string (free()), or NULL when out of memory. */
char *emp_badge_svg(const char *label, const char *value, const char *color);

/* Parse a window "Nh" or "Nd" (N a positive integer without sign or
 * leading zeros, at most 10 years) into `*us`, and its canonical text
 * into `label` ("30d"). Returns EMP_OK or EMP_EINVAL. */
#define EMP_BADGE_WINDOW_LABEL_MAX 16
enum emp_err emp_badge_window(const char *s, int64_t *us,
                              char label[EMP_BADGE_WINDOW_LABEL_MAX]);

/* The value text ("99.95%", "100%", "unknown") and color of an
 * availability in [0, 1] (NaN: nothing observed). Percent are truncated,
 * never rounded up: 99.999% shows as 99.99%, only 1.0 as 100%. Thresholds
 * on the shown value: >= 99.9 bright green, >= 99 green, >= 95 yellow,
 * else red; unknown is grey. `value` gets at most 16 bytes; the color is a
 * static string. */
#define EMP_BADGE_VALUE_MAX 16
const char *emp_badge_availability(double availability, char value[EMP_BADGE_VALUE_MAX]);

/* The color of a state name ("up" green, "degraded" yellow, "down" red,
 * anything else grey); static. */
const char *emp_badge_state_color(const char *state);

#endif
