
/*
 * Copyright (C) llmopt authors
 *
 * The state file image: round trip, and every damage refused.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_snapshot.h"


int
main(void)
{
    int                       rc;
    size_t                    size, i, len;
    unsigned                  n, bad;
    uint64_t                  created, catalog;
    double                    p1[37], p2[5];
    unsigned char            *buf, *copy;
    llmopt_err_t              err;
    llmopt_snapshot_entry_t   e[3], out[4];

    for (i = 0; i < 37; i++) {
        p1[i] = i * 0.5 - 3;
    }

    for (i = 0; i < 5; i++) {
        p2[i] = 1e300 / (i + 1);
    }

    e[0].name = "chat";
    e[0].name_len = 4;
    e[0].shape = 0x1122334455667788ULL;
    e[0].params = p1;
    e[0].size = sizeof(p1);

    e[1].name = "messages-long-name";
    e[1].name_len = 18;
    e[1].shape = 42;
    e[1].params = p2;
    e[1].size = sizeof(p2);

    e[2].name = "x";
    e[2].name_len = 1;
    e[2].shape = 7;
    e[2].params = p2;
    e[2].size = 0;

    size = llmopt_snapshot_size(e, 3);
    ok(size % 8 == 0, "image size is a multiple of 8 (%zu)", size);

    buf = malloc(size);
    copy = malloc(size);

    is_int(llmopt_snapshot_encode(buf, size - 1, 1, 2, e, 3), LLMOPT_ERROR,
           "a buffer too small is refused");
    is_int(llmopt_snapshot_encode(buf, size, 1700000000123ULL, 99, e, 3),
           LLMOPT_OK, "encoded");

    memset(&err, 0, sizeof(err));
    n = 4;
    rc = llmopt_snapshot_decode(buf, size, out, &n, &created, &catalog,
                                &err);
    is_int(rc, LLMOPT_OK, "decoded: %s", err.msg);
    is_int(n, 3, "three entries");
    ok(created == 1700000000123ULL, "created time kept");
    ok(catalog == 99, "catalog version kept");

    for (i = 0; i < 3; i++) {
        ok(out[i].name_len == e[i].name_len
           && memcmp(out[i].name, e[i].name, e[i].name_len) == 0,
           "entry %zu: name", i);
        ok(out[i].shape == e[i].shape, "entry %zu: shape", i);
        ok(out[i].size == e[i].size
           && memcmp(out[i].params, e[i].params, e[i].size) == 0,
           "entry %zu: parameters bit for bit", i);
        ok(((uintptr_t) out[i].params & 7) == 0, "entry %zu: 8-aligned", i);
    }

    ok(llmopt_snapshot_find(out, n, "messages-long-name", 18) == &out[1],
       "find by name");
    ok(llmopt_snapshot_find(out, n, "chat2", 5) == NULL, "find: absent");
    ok(llmopt_snapshot_find(out, n, "cha", 3) == NULL, "find: a prefix");

    n = 2;
    is_int(llmopt_snapshot_decode(buf, size, out, &n, NULL, NULL, &err),
           LLMOPT_AGAIN, "more entries than room: again");
    is_int(n, 3, "with the room it needs");
    is_int(llmopt_snapshot_decode(buf, size, out, &n, NULL, NULL, &err),
           LLMOPT_OK, "which then is enough");

    /* every single flipped byte is caught */

    bad = 0;

    for (i = 0; i < size; i++) {
        memcpy(copy, buf, size);
        copy[i] ^= 0x01;
        n = 4;

        if (llmopt_snapshot_decode(copy, size, out, &n, NULL, NULL, &err)
            == LLMOPT_OK)
        {
            bad++;
        }
    }

    is_int(bad, 0, "each of %zu one-bit flips refused", size);

    /* every truncation is caught */

    bad = 0;

    for (len = 0; len < size; len++) {
        n = 4;

        if (llmopt_snapshot_decode(buf, len, out, &n, NULL, NULL, &err)
            == LLMOPT_OK)
        {
            bad++;
        }
    }

    is_int(bad, 0, "each of %zu truncations refused", size);

    /* the messages say what is wrong */

    n = 4;
    memcpy(copy, buf, size);
    copy[0] = 'X';
    llmopt_snapshot_decode(copy, size, out, &n, NULL, NULL, &err);
    is_str(err.msg, "not an llmopt state file", "foreign file");

    memcpy(copy, buf, size);
    copy[8] = 9;
    llmopt_snapshot_decode(copy, size, out, &n, NULL, NULL, &err);
    ok(strstr(err.msg, "version 9") != NULL, "future version: %s", err.msg);

    memcpy(copy, buf, size);
    copy[size / 2] ^= 0x80;
    llmopt_snapshot_decode(copy, size, out, &n, NULL, NULL, &err);
    ok(strstr(err.msg, "checksum") != NULL, "damage: %s", err.msg);

    llmopt_snapshot_decode("", 0, out, &n, NULL, NULL, &err);
    is_str(err.msg, "not an llmopt state file", "empty file");

    /* no entries at all is a valid image */

    size = llmopt_snapshot_size(e, 0);
    is_int(llmopt_snapshot_encode(buf, size, 0, 0, e, 0), LLMOPT_OK,
           "an empty state encodes");
    n = 4;
    is_int(llmopt_snapshot_decode(buf, size, out, &n, NULL, NULL, &err),
           LLMOPT_OK, "and decodes");
    is_int(n, 0, "with no entries");

    free(buf);
    free(copy);

    return tap_done();
}
