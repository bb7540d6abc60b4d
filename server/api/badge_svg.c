/* Status badges as SVG in the flat two-part look: a grey label part and a
 * colored value part, texts centred, widths measured with a Verdana 11px
 * table so that any label fits without a font at hand. */
#include "api/badge_svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Advance widths of ASCII 32..126 in Verdana at 11px, in tenths of a pixel
 * (the font's units per em 2048, times 110/2048, rounded). */
static const unsigned char ascii_dpx[95] = {
     39,  43,  50,  97,  70, 119,  80,  30,  49,  49,  70,  97,  /*  !"#$%&'()*+ */
     40,  45,  40,  70,  70,  70,  70,  70,  70,  70,  70,  70,  /* ,-./01234567 */
     70,  70,  49,  49,  97,  97,  97,  60, 110,  75,  75,  77,  /* 89:;<=>?@ABC */
     85,  70,  63,  85,  83,  46,  49,  76,  62,  92,  82,  87,  /* DEFGHIJKLMNO */
     68,  87,  77,  75,  67,  80,  75, 109,  75,  67,  75,  49,  /* PQRSTUVWXYZ[ */
     70,  49,  97,  70,  70,  66,  69,  57,  69,  66,  39,  69,  /* \]^_`abcdefg */
     70,  30,  38,  65,  30, 107,  70,  67,  69,  69,  47,  57,  /* hijklmnopqrs */
     43,  70,  65,  89,  65,  65,  58,  70,  49,  70,  97,       /* tuvwxyz{|}~ */
};
#define WIDE_DPX 110 /* a character outside the table: as wide as '@' */

int emp_badge_text_width_dpx(const char *text)
{
    int w = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        if (*c >= 32 && *c <= 126)
            w += ascii_dpx[*c - 32];
        else if (*c < 0x80 || *c >= 0xC0)
            w += WIDE_DPX; /* a control byte, or the first byte of a UTF-8
                              sequence; continuation bytes add nothing */
    }
    return w;
}

/* `s` with &, <, >, " and ' written as entities: a new string, or NULL. */
static char *xml_escape(const char *s)
{
    size_t n = 0;
    for (const char *c = s; *c != '\0'; c++)
        n += strchr("&<>\"'", *c) != NULL ? 6 : 1;
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *c = s; *c != '\0'; c++) {
        const char *ent = NULL;
        switch (*c) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&apos;"; break;
        default: break;
        }
        if (ent != NULL) {
            size_t k = strlen(ent);
            memcpy(o, ent, k);
            o += k;
        } else if ((unsigned char)*c < 32) {
            *o++ = ' '; /* XML 1.0 allows no control characters */
        } else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

#define SVG_FORMAT                                                                        \
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"20\" role=\"img\" "  \
    "aria-label=\"%s: %s\">\n"                                                            \
    "<title>%s: %s</title>\n"                                                             \
    "<linearGradient id=\"s\" x2=\"0\" y2=\"100%%\">"                                     \
    "<stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/>"                        \
    "<stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\n"                         \
    "<clipPath id=\"r\"><rect width=\"%d\" height=\"20\" rx=\"3\" fill=\"#fff\"/>"        \
    "</clipPath>\n"                                                                       \
    "<g clip-path=\"url(#r)\"><rect width=\"%d\" height=\"20\" fill=\"" EMP_BADGE_LABEL   \
    "\"/><rect x=\"%d\" width=\"%d\" height=\"20\" fill=\"%s\"/>"                          \
    "<rect width=\"%d\" height=\"20\" fill=\"url(#s)\"/></g>\n"                           \
    "<g fill=\"#fff\" text-anchor=\"middle\" "                                            \
    "font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" "                              \
    "text-rendering=\"geometricPrecision\" font-size=\"11\">\n"                           \
    "<text aria-hidden=\"true\" x=\"%d.%d\" y=\"15\" fill=\"#010101\" "                   \
    "fill-opacity=\".3\" textLength=\"%d\">%s</text>"                                     \
    "<text x=\"%d.%d\" y=\"14\" textLength=\"%d\">%s</text>\n"                            \
    "<text aria-hidden=\"true\" x=\"%d.%d\" y=\"15\" fill=\"#010101\" "                   \
    "fill-opacity=\".3\" textLength=\"%d\">%s</text>"                                     \
    "<text x=\"%d.%d\" y=\"14\" textLength=\"%d\">%s</text>\n"                            \
    "</g></svg>\n"

char *emp_badge_svg(const char *label, const char *value, const char *color)
{
    char *out = NULL;
    char *l = xml_escape(label);
    char *v = xml_escape(value);
    if (l == NULL || v == NULL)
        goto out;
    /* Whole pixels: text width rounded up, plus padding on both sides. */
    int ltext = (emp_badge_text_width_dpx(label) + 9) / 10;
    int vtext = (emp_badge_text_width_dpx(value) + 9) / 10;
    int lw = ltext + 2 * EMP_BADGE_PAD_PX;
    int vw = vtext + 2 * EMP_BADGE_PAD_PX;
    int w = lw + vw;
    int lx = lw * 5;            /* centres, in tenths of a pixel */
    int vx = (2 * lw + vw) * 5;
    int n = snprintf(NULL, 0, SVG_FORMAT, w, l, v, l, v, w, lw, lw, vw, color, w, lx / 10,
                     lx % 10, ltext, l, lx / 10, lx % 10, ltext, l, vx / 10, vx % 10, vtext, v,
                     vx / 10, vx % 10, vtext, v);
    if (n < 0)
        goto out;
    out = malloc((size_t)n + 1);
    if (out == NULL)
        goto out;
    snprintf(out, (size_t)n + 1, SVG_FORMAT, w, l, v, l, v, w, lw, lw, vw, color, w, lx / 10,
             lx % 10, ltext, l, lx / 10, lx % 10, ltext, l, vx / 10, vx % 10, vtext, v,
             vx / 10, vx % 10, vtext, v);
out:
    free(l);
    free(v);
    return out;
}

#define MAX_WINDOW_H (INT64_C(24) * 3650)

enum emp_err emp_badge_window(const char *s, int64_t *us,
                              char label[EMP_BADGE_WINDOW_LABEL_MAX])
{
    if (s == NULL || s[0] < '1' || s[0] > '9')
        return EMP_EINVAL;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno != 0 || end == s || (end[0] != 'h' && end[0] != 'd') || end[1] != '\0')
        return EMP_EINVAL;
    int64_t hours = end[0] == 'd' ? (n <= MAX_WINDOW_H / 24 ? n * 24 : MAX_WINDOW_H + 1) : n;
    if (n < 1 || hours > MAX_WINDOW_H)
        return EMP_EINVAL;
    *us = hours * 3600 * INT64_C(1000000);
    snprintf(label, EMP_BADGE_WINDOW_LABEL_MAX, "%d%c", (int)n, end[0]); /* n <= 87600 */
    return EMP_OK;
}

const char *emp_badge_availability(double availability, char value[EMP_BADGE_VALUE_MAX])
{
    if (isnan(availability) || availability < 0 || availability > 1) {
        snprintf(value, EMP_BADGE_VALUE_MAX, "unknown");
        return EMP_BADGE_GREY;
    }
    if (availability >= 1.0) {
        snprintf(value, EMP_BADGE_VALUE_MAX, "100%%");
        return EMP_BADGE_BRIGHTGREEN;
    }
    /* Hundredths of a percent, truncated; the epsilon absorbs binary noise
     * such as 0.9995 * 10000 = 9994.999... */
    int h = (int)floor(availability * 10000.0 + 1e-6);
    if (h > 9999)
        h = 9999;
    if (h < 0)
        h = 0;
    snprintf(value, EMP_BADGE_VALUE_MAX, "%d.%02d%%", h / 100, h % 100);
    if (h >= 9990)
        return EMP_BADGE_BRIGHTGREEN;
    if (h >= 9900)
        return EMP_BADGE_GREEN;
    if (h >= 9500)
        return EMP_BADGE_YELLOW;
    return EMP_BADGE_RED;
}

const char *emp_badge_state_color(const char *state)
{
    if (strcmp(state, "up") == 0)
        return EMP_BADGE_BRIGHTGREEN;
    if (strcmp(state, "degraded") == 0)
        return EMP_BADGE_YELLOW;
    if (strcmp(state, "down") == 0)
        return EMP_BADGE_RED;
    return EMP_BADGE_GREY;
}
