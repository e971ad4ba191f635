/*
 * Copyright (C) llmopt authors
 *
 * A minimal TAP producer for the core's unit tests, read by prove.
 */

#ifndef _LLMOPT_TAP_H_INCLUDED_
#define _LLMOPT_TAP_H_INCLUDED_


#include <stdio.h>
#include <string.h>
#include <math.h>


static int  tap_run;
static int  tap_failed;


#define ok(cond, ...)                                                        \
    tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                               \
    do {                                                                     \
        long long  g_ = (long long) (got), w_ = (long long) (want);          \
        if (!tap_ok(g_ == w_, __FILE__, __LINE__, __VA_ARGS__)) {            \
            printf("#   got: %lld\n#   expected: %lld\n", g_, w_);         \
        }                                                                    \
    } while (0)

#define is_num(got, want, eps, ...)                                          \
    do {                                                                     \
        double  g_ = (got), w_ = (want);                                     \
        if (!tap_ok(fabs(g_ - w_) <= (eps), __FILE__, __LINE__,            \
                    __VA_ARGS__))                                            \
        {                                                                    \
            printf("#   got: %.17g\n#   expected: %.17g\n", g_, w_);       \
        }                                                                    \
    } while (0)

#define is_str(got, want, ...)                                               \
    do {                                                                     \
        const char  *g_ = (got), *w_ = (want);                               \
        int  same_ = (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);      \
        if (!tap_ok(same_, __FILE__, __LINE__, __VA_ARGS__)) {               \
            printf("#   got: '%s'\n#   expected: '%s'\n",                  \
                   g_ ? g_ : "(null)", w_ ? w_ : "(null)");                  \
        }                                                                    \
    } while (0)


static int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>

static int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list  args;

    tap_run++;

    printf("%s %d - ", pass ? "ok" : "not ok", tap_run);
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");

    if (!pass) {
        tap_failed++;
        printf("#   Failed test at %s line %d.\n", file, line);
    }

    return pass;
}


static int
tap_done(void)
{
    printf("1..%d\n", tap_run);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}


#endif /* _LLMOPT_TAP_H_INCLUDED_ */
