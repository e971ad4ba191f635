/*
 * Copyright (C) llmopt authors
 *
 * Replays a fuzz harness's regression inputs (t/fuzz/regress/<harness>/)
 * and seeds without libFuzzer, as a TAP test: every crash the fuzzers
 * ever found stays a test of "make test" and "make sanitize".
 *
 *   replay [dir ...]        (default: REGRESS_DIR, set when built)
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
replay_file(const char *path)
{
    FILE     *f;
    long      n;
    uint8_t  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        ok(0, "%s: cannot open", path);
        return;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n > 0 ? n : 1);
    if (buf == NULL || (n > 0 && fread(buf, 1, n, f) != (size_t) n)) {
        ok(0, "%s: cannot read", path);
        fclose(f);
        free(buf);
        return;
    }

    fclose(f);

    /* a crash ends the program: the TAP plan then fails */
    LLVMFuzzerTestOneInput(buf, n);
    ok(1, "%s", path);

    free(buf);
}


int
main(int argc, char **argv)
{
    int             i;
    DIR            *d;
    char            path[4096];
    struct dirent  *e;

#ifdef REGRESS_DIR
    static char  *dflt[] = { NULL, REGRESS_DIR };

    if (argc < 2) {
        argc = 2;
        argv = dflt;
    }
#endif

    for (i = 1; i < argc; i++) {
        d = opendir(argv[i]);
        if (d == NULL) {
            continue;
        }

        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }

            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            replay_file(path);
        }

        closedir(d);
    }

    /* an empty input, always */
    LLVMFuzzerTestOneInput((const uint8_t *) "", 0);
    ok(1, "the empty input");

    return tap_done();
}
