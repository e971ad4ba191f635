/*
 * Copyright (C) llmopt authors
 *
 * Fuzzes the stream translators into the Responses API's events
 * (llmopt_translate_responses_stream.c): an upstream stream of either
 * dialect fed in chunks of sizes the input chooses, into output buffers
 * small enough to make them return LLMOPT_AGAIN, with a kept output small
 * enough to overflow.  Checks that the output is the same however the
 * input is split; that every event is "event: T" and "data: " a JSON
 * object whose "type" is T and whose "sequence_number" counts from 0;
 * that a failed stream ends with its one error event; and that the
 * output stays bounded.
 *
 * Input: mode byte (bit 0 upstream dialect, Anthropic when set; bit 1 the
 * forced JSON tool "person"; bit 2 no kept output; bits 3-7 the chunk
 * sizes), seed byte, then the upstream's bytes.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_translate.h"


#define FUZZ_LINE  2048
#define FUZZ_KEEP  1024


static unsigned char *fuzz_run(const llmopt_xlate_t *x, int keep,
    const uint8_t *data, size_t size, unsigned chunks, unsigned seed,
    size_t out_cap, size_t *out_len, int *failed);
static unsigned char *fuzz_append(unsigned char *result, size_t *total,
    size_t *room, const llmopt_xlate_out_t *out);
static void fuzz_check_events(const unsigned char *p, size_t n,
    int failed);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              failed_whole, failed_split, keep;
    size_t           whole_len, split_len;
    unsigned         mode, seed;
    unsigned char   *whole, *split;
    llmopt_xlate_t   x;

    if (size < 2) {
        return 0;
    }

    mode = data[0];
    seed = data[1];
    data += 2;
    size -= 2;

    memset(&x, 0, sizeof(x));

    x.client = LLMOPT_DIALECT_RESPONSES;
    x.upstream = (mode & 1) ? LLMOPT_DIALECT_ANTHROPIC : LLMOPT_DIALECT_OPENAI;
    x.created = 1767225600;
    keep = !(mode & 4);

    if (mode & 2) {
        memcpy(x.json_tool_name, "person", 6);
        x.json_tool_len = 6;
        x.json_tool = 1;
    }

    whole = fuzz_run(&x, keep, data, size, 0, seed,
                     LLMOPT_XLATE_OUT_KEEP(FUZZ_LINE, FUZZ_KEEP) + 32 * size,
                     &whole_len, &failed_whole);
    split = fuzz_run(&x, keep, data, size, 1 + (mode >> 3), seed,
                     LLMOPT_XLATE_OUT_KEEP(FUZZ_LINE, FUZZ_KEEP), &split_len,
                     &failed_split);

    if (whole_len != split_len || memcmp(whole, split, whole_len) != 0
        || failed_whole != failed_split)
    {
        abort();
    }

    fuzz_check_events(whole, whole_len, failed_whole);

    free(whole);
    free(split);

    return 0;
}


/*
 * Feeds the input whole (chunks 0) or in chunks of 1 to 8 * chunks bytes,
 * draining an output buffer of out_cap bytes on LLMOPT_AGAIN into the
 * result, as the glue sends it on.
 */

static unsigned char *
fuzz_run(const llmopt_xlate_t *x, int keep, const uint8_t *data, size_t size,
    unsigned chunks, unsigned seed, size_t out_cap, size_t *out_len,
    int *failed)
{
    int                     rc;
    size_t                  pos, n, used, total, bound, room;
    unsigned char          *line, *result, *kept;
    llmopt_xlate_out_t      out;
    llmopt_xlate_stream_t  *st;

    /*
     * an event needs at most 4 times its bytes, 4 KB of its own and 4
     * times the kept output, and takes at least 7 bytes ("data:\n\n")
     */
    bound = 4 * size + (4096 + 4 * FUZZ_KEEP) * (size / 7 + 2);

    st = malloc(sizeof(*st));
    line = malloc(FUZZ_LINE);
    kept = malloc(FUZZ_KEEP);
    out.data = malloc(out_cap);
    out.cap = out_cap;
    out.len = 0;
    room = 4 * size + 65536;
    result = malloc(room);
    total = 0;

    if (st == NULL || line == NULL || kept == NULL || out.data == NULL
        || result == NULL)
    {
        abort();
    }

    llmopt_xlate_stream_init(st, x, line, FUZZ_LINE);

    if (keep) {
        llmopt_xlate_stream_keep(st, kept, FUZZ_KEEP);
    }

    pos = 0;

    while (pos < size) {
        if (chunks == 0) {
            n = size - pos;

        } else {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % (8 * chunks);
            n = n > size - pos ? size - pos : n;
        }

        rc = llmopt_xlate_stream_feed(st, data + pos, n, &out, &used);

        if (rc == LLMOPT_ERROR || used > n || out.len > out.cap
            || (rc == LLMOPT_OK && used != n))
        {
            abort();
        }

        if (rc == LLMOPT_AGAIN && used == 0 && out.len == 0) {
            abort();                /* no progress with an empty buffer */
        }

        pos += used;

        if (rc == LLMOPT_AGAIN || out.len > out.cap / 2) {
            result = fuzz_append(result, &total, &room, &out);
            out.len = 0;
        }

        if (total > bound) {
            abort();
        }
    }

    for ( ;; ) {
        rc = llmopt_xlate_stream_finish(st, &out);

        result = fuzz_append(result, &total, &room, &out);
        out.len = 0;

        if (rc == LLMOPT_OK) {
            break;
        }

        if (rc != LLMOPT_AGAIN || total > bound) {
            abort();
        }
    }

    *failed = st->s.failed;
    *out_len = total;

    free(st);
    free(line);
    free(kept);
    free(out.data);

    return result;
}


static unsigned char *
fuzz_append(unsigned char *result, size_t *total, size_t *room,
    const llmopt_xlate_out_t *out)
{
    while (*total + out->len > *room) {
        *room *= 2;
        result = realloc(result, *room);
        if (result == NULL) {
            abort();
        }
    }

    memcpy(result + *total, out->data, out->len);
    *total += out->len;

    return result;
}


/*
 * Every event is "event: T\ndata: {...}\n\n", the data a JSON object that
 * starts {"type":"T","sequence_number":N with N counting from 0; a failed
 * stream's last event is its "error".
 */

static void
fuzz_check_events(const unsigned char *p, size_t n, int failed)
{
    int                   rc;
    char                  head[96];
    size_t                type_len, data_len, head_len;
    unsigned              count, seq;
    llmopt_err_t          err;
    const unsigned char  *end, *nl, *type, *data, *last;

    end = p + n;
    last = NULL;
    seq = 0;

    while (p < end) {
        if (end - p < 7 || memcmp(p, "event: ", 7) != 0) {
            abort();
        }

        type = p + 7;
        nl = memchr(type, '\n', (size_t) (end - type));
        if (nl == NULL) {
            abort();
        }

        type_len = (size_t) (nl - type);
        p = nl + 1;

        if (end - p < 6 || memcmp(p, "data: ", 6) != 0) {
            abort();
        }

        data = p + 6;
        nl = memchr(data, '\n', (size_t) (end - data));
        if (nl == NULL || end - nl < 2 || nl[1] != '\n') {
            abort();
        }

        data_len = (size_t) (nl - data);

        rc = llmopt_json_parse(data, data_len, NULL, 0, 0, &count, &err);
        if (rc == LLMOPT_ERROR || data[0] != '{' || type_len > 48) {
            abort();
        }

        memcpy(head, "{\"type\":\"", 9);
        memcpy(head + 9, type, type_len);
        head_len = 9 + type_len;
        head_len += (size_t) snprintf(head + head_len,
                                      sizeof(head) - head_len,
                                      "\",\"sequence_number\":%u", seq++);

        if (data_len < head_len || memcmp(data, head, head_len) != 0
            || (data[head_len] != ',' && data[head_len] != '}'))
        {
            abort();
        }

        last = type;
        p = nl + 2;
    }

    if (failed && (last == NULL || memcmp(last, "error\n", 6) != 0)) {
        abort();
    }
}
