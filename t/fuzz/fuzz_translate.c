/*
 * Copyright (C) llmopt authors
 *
 * Fuzzes the stream translators (llmopt_translate_stream.c): an upstream
 * stream of either dialect fed in chunks of sizes the input chooses, into
 * output buffers small enough to make them return LLMOPT_AGAIN.  Checks
 * that the output is the same however the input is split, that every
 * event of it is well formed (data is JSON or [DONE]), that a failed
 * stream ends with one error event, and that the output stays bounded.
 * Built with -DFUZZ_UPSTREAM=0 (OpenAI) or 1 (Anthropic) the direction is
 * fixed, else the first byte chooses it.
 *
 * Input: mode byte (bit 0 upstream dialect, bit 1 include_usage, bit 2
 * the forced JSON tool "person", bits 3-7 the chunk sizes), seed byte,
 * then the upstream's bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_translate.h"


#define FUZZ_LINE  2048


static unsigned char *fuzz_run(const llmopt_xlate_t *x,
    const uint8_t *data, size_t size, unsigned chunks, unsigned seed,
    size_t out_cap, size_t *out_len, int *failed);
static unsigned char *fuzz_append(unsigned char *result, size_t *total,
    size_t *room, const llmopt_xlate_out_t *out);
static void fuzz_check_events(const unsigned char *p, size_t n,
    llmopt_dialect_e client, int failed);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              failed_whole, failed_split;
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

#ifdef FUZZ_UPSTREAM
    x.upstream = FUZZ_UPSTREAM ? LLMOPT_DIALECT_ANTHROPIC
                               : LLMOPT_DIALECT_OPENAI;
#else
    x.upstream = (mode & 1) ? LLMOPT_DIALECT_ANTHROPIC : LLMOPT_DIALECT_OPENAI;
#endif
    x.client = (x.upstream == LLMOPT_DIALECT_OPENAI)
               ? LLMOPT_DIALECT_ANTHROPIC : LLMOPT_DIALECT_OPENAI;
    x.include_usage = (mode >> 1) & 1;
    x.created = 1767225600;

    if (mode & 4) {
        memcpy(x.json_tool_name, "person", 6);
        x.json_tool_len = 6;
        x.json_tool = 1;
    }

    whole = fuzz_run(&x, data, size, 0, seed,
                     LLMOPT_XLATE_OUT_MIN(FUZZ_LINE) + 8 * size, &whole_len,
                     &failed_whole);
    split = fuzz_run(&x, data, size, 1 + (mode >> 3), seed,
                     LLMOPT_XLATE_OUT_MIN(FUZZ_LINE), &split_len,
                     &failed_split);

    if (whole_len != split_len || memcmp(whole, split, whole_len) != 0
        || failed_whole != failed_split)
    {
        abort();
    }

    fuzz_check_events(whole, whole_len, x.client, failed_whole);

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
fuzz_run(const llmopt_xlate_t *x, const uint8_t *data, size_t size,
    unsigned chunks, unsigned seed, size_t out_cap, size_t *out_len,
    int *failed)
{
    int                     rc;
    size_t                  pos, n, used, total, bound, room;
    unsigned char          *line, *result;
    llmopt_xlate_out_t      out;
    llmopt_xlate_stream_t  *st;

    /*
     * every event needs at most 4 times its bytes and 4 KB of its own,
     * and takes at least 7 bytes ("data:\n\n")
     */
    bound = 4 * size + 4096 * (size / 7 + 2);

    st = malloc(sizeof(*st));
    line = malloc(FUZZ_LINE);
    out.data = malloc(out_cap);
    out.cap = out_cap;
    out.len = 0;
    room = 4 * size + 65536;
    result = malloc(room);
    total = 0;

    if (st == NULL || line == NULL || out.data == NULL || result == NULL) {
        abort();
    }

    llmopt_xlate_stream_init(st, x, line, FUZZ_LINE);

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
 * Every event is "event: NAME\n" (Anthropic clients) and "data: ...\n\n"
 * with JSON or [DONE]; a failed stream's last event is its error.
 */

static void
fuzz_check_events(const unsigned char *p, size_t n,
    llmopt_dialect_e client, int failed)
{
    int                   rc;
    unsigned              count;
    llmopt_err_t          err;
    const unsigned char  *end, *nl, *data, *last;
    size_t                data_len;

    end = p + n;
    last = NULL;

    while (p < end) {
        if (client == LLMOPT_DIALECT_ANTHROPIC) {
            if (end - p < 7 || memcmp(p, "event: ", 7) != 0) {
                abort();
            }

            nl = memchr(p, '\n', (size_t) (end - p));
            if (nl == NULL) {
                abort();
            }

            p = nl + 1;
        }

        if (end - p < 6 || memcmp(p, "data: ", 6) != 0) {
            abort();
        }

        data = p + 6;
        nl = memchr(data, '\n', (size_t) (end - data));
        if (nl == NULL || end - nl < 2 || nl[1] != '\n') {
            abort();
        }

        data_len = (size_t) (nl - data);

        if (!(data_len == 6 && memcmp(data, "[DONE]", 6) == 0)) {
            rc = llmopt_json_parse(data, data_len, NULL, 0, 0, &count, &err);
            if (rc == LLMOPT_ERROR) {
                abort();
            }
        }

        last = data;
        p = nl + 2;
    }

    if (failed) {
        if (last == NULL) {
            abort();
        }

        if (client == LLMOPT_DIALECT_OPENAI
            ? memcmp(last, "{\"error\":", 9) != 0
            : memcmp(last, "{\"type\":\"error\"", 15) != 0)
        {
            abort();
        }
    }
}
