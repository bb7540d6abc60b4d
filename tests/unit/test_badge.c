/* The SVG badges (badge.c): well-formed XML, texts escaped, widths that fit
 * the texts, the ?window= parser, and the value and color of an
 * availability (truncated, never rounded up to a better color). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/badge_svg.h"

/* A small XML well-formedness check, enough for what badge.c writes:
 * elements nest and close in order, attribute values are quoted, '<' never
 * appears in text or attributes, and '&' only starts one of the five
 * predefined entities. Returns NULL or what is wrong. */
static const char *xml_check(const char *s)
{
    const char *stack[32];
    size_t stack_len[32];
    int depth = 0;
    bool root_seen = false;
    const char *c = s;
    while (*c != '\0') {
        if (*c == '&') {
            static const char *ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            bool ok = false;
            for (size_t i = 0; i < 5 && !ok; i++)
                ok = strncmp(c, ents[i], strlen(ents[i])) == 0;
            if (!ok)
                return "bare &";
            c++;
            continue;
        }
        if (*c == '>')
            return "bare > outside a tag";
        if (*c != '<') {
            if (depth == 0 && *c != '\n' && *c != ' ')
                return "text outside the root";
            c++;
            continue;
        }
        c++;
        bool closing = *c == '/';
        if (closing)
            c++;
        const char *name = c;
        while (*c != '\0' && strchr(" />\n", *c) == NULL)
            c++;
        size_t nlen = (size_t)(c - name);
        if (nlen == 0)
            return "empty tag name";
        if (closing) {
            if (depth == 0 || stack_len[depth - 1] != nlen ||
                strncmp(stack[depth - 1], name, nlen) != 0)
                return "mismatched closing tag";
            depth--;
            if (*c != '>')
                return "junk in a closing tag";
            c++;
            continue;
        }
        if (depth == 0 && root_seen)
            return "second root element";
        root_seen = true;
        /* Attributes: name="value". */
        for (;;) {
            while (*c == ' ' || *c == '\n')
                c++;
            if (*c == '>' || (c[0] == '/' && c[1] == '>'))
                break;
            const char *an = c;
            while (*c != '\0' && *c != '=' && *c != ' ' && *c != '>')
                c++;
            if (c == an || *c != '=' || c[1] != '"')
                return "attribute without a quoted value";
            c += 2;
            while (*c != '\0' && *c != '"') {
                if (*c == '<')
                    return "< in an attribute";
                if (*c == '&') {
                    static const char *ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
                    bool ok = false;
                    for (size_t i = 0; i < 5 && !ok; i++)
                        ok = strncmp(c, ents[i], strlen(ents[i])) == 0;
                    if (!ok)
                        return "bare & in an attribute";
                }
                c++;
            }
            if (*c != '"')
                return "unterminated attribute";
            c++;
        }
        if (*c == '/') {
            c += 2; /* self-closing */
            continue;
        }
        c++;
        if (depth == 32)
            return "too deep";
        stack[depth] = name;
        stack_len[depth] = nlen;
        depth++;
    }
    if (depth != 0)
        return "unclosed element";
    if (!root_seen)
        return "no root element";
    return NULL;
}

/* The integer value of attribute `attr` of the element that the last '<'
 * of the first match of `prefix` opens. */
static int attr_int(const char *svg, const char *prefix, const char *attr)
{
    const char *e = strstr(svg, prefix);
    assert_non_null(e);
    e += strrchr(prefix, '<') - prefix;
    char key[32];
    snprintf(key, sizeof key, " %s=\"", attr);
    const char *a = strstr(e, key);
    assert_non_null(a);
    assert_true(a < strchr(e, '>'));
    return atoi(a + strlen(key));
}

static void test_svg_well_formed(void **state)
{
    (void)state;
    char *svg = emp_badge_svg("uptime 30d", "99.95%", EMP_BADGE_BRIGHTGREEN);
    assert_non_null(svg);
    const char *why = xml_check(svg);
    if (why != NULL)
        fail_msg("%s in:\n%s", why, svg);
    assert_true(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    assert_non_null(strstr(svg, ">uptime 30d</text>"));
    assert_non_null(strstr(svg, ">99.95%</text>"));
    assert_non_null(strstr(svg, "<title>uptime 30d: 99.95%</title>"));
    assert_non_null(strstr(svg, "fill=\"#4c1\""));
    assert_non_null(strstr(svg, "fill=\"#555\""));
    free(svg);
}

static void test_svg_escaped(void **state)
{
    (void)state;
    char *svg = emp_badge_svg("a<b>&\"c'", "x&y</text><script>", EMP_BADGE_RED);
    assert_non_null(svg);
    const char *why = xml_check(svg);
    if (why != NULL)
        fail_msg("%s in:\n%s", why, svg);
    assert_null(strstr(svg, "<script"));
    assert_non_null(strstr(svg, ">a&lt;b&gt;&amp;&quot;c&apos;</text>"));
    assert_non_null(strstr(svg, "aria-label=\"a&lt;b&gt;&amp;&quot;c&apos;: x&amp;y&lt;/text&gt;"));
    free(svg);
    /* Control characters are not XML: written as spaces. */
    svg = emp_badge_svg("a\x01" "b", "\t", EMP_BADGE_GREY);
    assert_non_null(svg);
    assert_null(xml_check(svg));
    assert_null(strchr(svg, '\x01'));
    free(svg);
}

static void test_widths(void **state)
{
    (void)state;
    assert_int_equal(emp_badge_text_width_dpx(""), 0);
    /* Digits are one width; 'm' is wider than 'i'; sums add up. */
    assert_int_equal(emp_badge_text_width_dpx("0"), emp_badge_text_width_dpx("9"));
    assert_true(emp_badge_text_width_dpx("m") > 2 * emp_badge_text_width_dpx("i"));
    assert_int_equal(emp_badge_text_width_dpx("ab"),
                     emp_badge_text_width_dpx("a") + emp_badge_text_width_dpx("b"));
    /* Verdana 11px: "uptime" is about 38 px, "99.95%" about 40 px. */
    int up = emp_badge_text_width_dpx("uptime");
    assert_true(up > 340 && up < 420);
    int pct = emp_badge_text_width_dpx("99.95%");
    assert_true(pct > 360 && pct < 440);
    /* A two-byte UTF-8 character counts once. */
    assert_int_equal(emp_badge_text_width_dpx("\xc3\xa9"), emp_badge_text_width_dpx("@"));

    /* The parts are as wide as their texts plus padding, and add up. */
    const char *labels[] = {"uptime 30d", "i", "WWWWWWWWWWWWWWWWWWWWWWWW", "a-very.long_target-name"};
    const char *values[] = {"99.95%", "unknown", "100%", "degraded"};
    for (size_t i = 0; i < 4; i++) {
        char *svg = emp_badge_svg(labels[i], values[i], EMP_BADGE_GREEN);
        assert_non_null(svg);
        int w = attr_int(svg, "<svg", "width");
        int lw = attr_int(svg, "<g clip-path=\"url(#r)\"><rect", "width");
        int vx = attr_int(svg, "<rect x=", "x");
        int vw = attr_int(svg, "<rect x=", "width");
        int ltext = (emp_badge_text_width_dpx(labels[i]) + 9) / 10;
        int vtext = (emp_badge_text_width_dpx(values[i]) + 9) / 10;
        assert_int_equal(lw, ltext + 2 * EMP_BADGE_PAD_PX);
        assert_int_equal(vw, vtext + 2 * EMP_BADGE_PAD_PX);
        assert_int_equal(vx, lw);
        assert_int_equal(w, lw + vw);
        /* The texts are drawn at their measured length. */
        assert_int_equal(attr_int(svg, "<text x=", "textLength"), ltext);
        free(svg);
    }
    /* A longer label makes a wider badge. */
    char *a = emp_badge_svg("uptime 7d", "100%", EMP_BADGE_GREEN);
    char *b = emp_badge_svg("uptime 365d", "100%", EMP_BADGE_GREEN);
    assert_true(attr_int(b, "<svg", "width") > attr_int(a, "<svg", "width"));
    free(a);
    free(b);
}

static void test_window(void **state)
{
    (void)state;
    int64_t us = 0;
    char label[EMP_BADGE_WINDOW_LABEL_MAX];
    int64_t h = INT64_C(3600000000);
    struct {
        const char *in;
        int64_t us;
        const char *label;
    } good[] = {
        {"24h", 24 * h, "24h"}, {"7d", 7 * 24 * h, "7d"}, {"30d", 30 * 24 * h, "30d"},
        {"90d", 90 * 24 * h, "90d"}, {"1h", h, "1h"}, {"3650d", 3650 * 24 * h, "3650d"},
        {"87600h", 87600 * h, "87600h"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(emp_badge_window(good[i].in, &us, label), EMP_OK);
        assert_int_equal(us, good[i].us);
        assert_string_equal(label, good[i].label);
    }
    static const char *bad[] = {"", "d", "30", "0d", "030d", "-1d", "+1d", " 1d", "1d ",
                                "1.5d", "1w", "30D", "1dd", "3651d", "87601h",
                                "99999999999999999999d", "9223372036854775807h", "1e3h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (emp_badge_window(bad[i], &us, label) != EMP_EINVAL)
            fail_msg("window %s accepted", bad[i]);
    assert_int_equal(emp_badge_window(NULL, &us, label), EMP_EINVAL);
}

static void test_availability(void **state)
{
    (void)state;
    char v[EMP_BADGE_VALUE_MAX];
    struct {
        double a;
        const char *value, *color;
    } cases[] = {
        {1.0, "100%", EMP_BADGE_BRIGHTGREEN},
        {0.99999, "99.99%", EMP_BADGE_BRIGHTGREEN}, /* never rounded up to 100% */
        {0.9995, "99.95%", EMP_BADGE_BRIGHTGREEN},
        {0.999, "99.90%", EMP_BADGE_BRIGHTGREEN},
        {0.99899, "99.89%", EMP_BADGE_GREEN},
        {0.99, "99.00%", EMP_BADGE_GREEN},
        {0.98999, "98.99%", EMP_BADGE_YELLOW},
        {0.95, "95.00%", EMP_BADGE_YELLOW},
        {0.9499, "94.99%", EMP_BADGE_RED},
        {0.5, "50.00%", EMP_BADGE_RED},
        {0.0, "0.00%", EMP_BADGE_RED},
        {NAN, "unknown", EMP_BADGE_GREY},
        {-0.1, "unknown", EMP_BADGE_GREY},
        {1.5, "unknown", EMP_BADGE_GREY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *c = emp_badge_availability(cases[i].a, v);
        if (strcmp(v, cases[i].value) != 0 || strcmp(c, cases[i].color) != 0)
            fail_msg("%.6f: got %s %s, expected %s %s", cases[i].a, v, c, cases[i].value,
                     cases[i].color);
    }
    assert_string_equal(emp_badge_state_color("up"), EMP_BADGE_BRIGHTGREEN);
    assert_string_equal(emp_badge_state_color("degraded"), EMP_BADGE_YELLOW);
    assert_string_equal(emp_badge_state_color("down"), EMP_BADGE_RED);
    assert_string_equal(emp_badge_state_color("unknown"), EMP_BADGE_GREY);
    assert_string_equal(emp_badge_state_color(""), EMP_BADGE_GREY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svg_well_formed),
        cmocka_unit_test(test_svg_escaped),
        cmocka_unit_test(test_widths),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_availability),
    };
    return cmocka_run_group_tests_name("badge", tests, NULL, NULL);
}
