/*
 * Copyright (C) llmopt authors
 *
 * bench-translate: the CPU time of the dialect translators of the core
 * (llmopt_translate.h) -- a request, a JSON answer and an event stream,
 * for every pair of client and upstream dialects, the Responses API
 * client included -- on the goldens of t/data/translate, and on streams
 * of 1,000 text deltas (about 100 KB) made for the purpose.  Links src/
 * only.
 *
 *   build/bench-translate
 *
 * Prints, per case, the median time of one translation (tokenizing the
 * input included for requests and answers) and its time per KB of input;
 * then the targets: at most 10 us per KB of a request or an answer and 5
 * us per KB of a stream (a 100 KB answer streamed for half a millisecond
 * of CPU), the worst case of each kind; exits 1 when one is missed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmopt_translate.h"


#define BENCH_ROUNDS   2001
#define BENCH_TOKS     16384
#define BENCH_DELTAS   1000
#define BENCH_OUT      (8 * 1024 * 1024)

#define BENCH_TARGET_JSON    10.0   /* us per KB, requests and answers */
#define BENCH_TARGET_STREAM  5.0    /* us per KB, streams */


typedef struct {
    const char        *label;
    int                kind;           /* 0 request, 1 answer, 2 stream */
    llmopt_dialect_e   client;
    llmopt_dialect_e   upstream;
    const char        *file;           /* NULL: the made-up stream */
} bench_case_t;


static double bench_now(void);
static int bench_cmp(const void *a, const void *b);
static unsigned char *bench_read(const char *name, size_t *len);
static size_t bench_stream(llmopt_dialect_e upstream, unsigned char *buf,
    size_t size);
static double bench_once(const bench_case_t *c, const unsigned char *in,
    size_t len);


static llmopt_json_tok_t   bench_toks[BENCH_TOKS];
static unsigned char       bench_out[BENCH_OUT];
static unsigned char       bench_line[LLMOPT_XLATE_LINE_DEFAULT];
static unsigned char       bench_keep[LLMOPT_XLATE_KEEP_DEFAULT];
static llmopt_xlate_stream_t  bench_st;
static double              bench_ns[BENCH_ROUNDS];


#define OA  LLMOPT_DIALECT_OPENAI
#define AN  LLMOPT_DIALECT_ANTHROPIC
#define RS  LLMOPT_DIALECT_RESPONSES

static const bench_case_t  bench_cases[] = {
    { "request  openai -> anthropic", 0, OA, AN, "req-tools.openai.json" },
    { "request  anthropic -> openai", 0, AN, OA, "req-tools.anthropic.json" },
    { "request  responses -> openai", 0, RS, OA, "rq-tools.responses.json" },
    { "request  responses -> anthropic", 0, RS, AN,
      "rq-tools.responses.json" },
    { "answer   anthropic -> openai", 1, OA, AN, "resp-tools.anthropic.json" },
    { "answer   openai -> anthropic", 1, AN, OA, "resp-tools-oa.openai.json" },
    { "answer   openai -> responses", 1, RS, OA, "resp-tools-oa.openai.json" },
    { "answer   anthropic -> responses", 1, RS, AN,
      "resp-tools.anthropic.json" },
    { "stream   anthropic -> openai", 2, OA, AN, NULL },
    { "stream   openai -> anthropic", 2, AN, OA, NULL },
    { "stream   openai -> responses", 2, RS, OA, NULL },
    { "stream   anthropic -> responses", 2, RS, AN, NULL },
};


int
main(void)
{
    int             rc;
    size_t          len, k, r;
    unsigned char  *in;
    double          median, per_kb, worst[3];
    static unsigned char  stream[2 * 1024 * 1024];

    printf("%-34s %10s %12s %12s\n", "case", "input", "median",
           "per KB");

    worst[0] = worst[1] = worst[2] = 0;

    for (k = 0; k < sizeof(bench_cases) / sizeof(bench_cases[0]); k++) {
        if (bench_cases[k].file != NULL) {
            in = bench_read(bench_cases[k].file, &len);
            if (in == NULL) {
                fprintf(stderr, "bench-translate: t/data/translate/%s: "
                        "cannot read (run from the checkout)\n",
                        bench_cases[k].file);
                return 1;
            }

        } else {
            len = bench_stream(bench_cases[k].upstream, stream,
                               sizeof(stream));
            in = stream;
        }

        for (r = 0; r < BENCH_ROUNDS; r++) {
            bench_ns[r] = bench_once(&bench_cases[k], in, len);
            if (bench_ns[r] < 0) {
                fprintf(stderr, "bench-translate: %s failed\n",
                        bench_cases[k].label);
                return 1;
            }
        }

        qsort(bench_ns, BENCH_ROUNDS, sizeof(double), bench_cmp);
        median = bench_ns[BENCH_ROUNDS / 2];

        per_kb = median / 1e3 / ((double) len / 1024);

        printf("%-34s %8zu B %9.1f us %9.2f us\n", bench_cases[k].label,
               len, median / 1e3, per_kb);

        if (per_kb > worst[bench_cases[k].kind]) {
            worst[bench_cases[k].kind] = per_kb;
        }

        if (in != stream) {
            free(in);
        }
    }

    printf("targets:\n");
    rc = 0;

    for (k = 0; k < 3; k++) {
        median = (k == 2) ? BENCH_TARGET_STREAM : BENCH_TARGET_JSON;
        rc |= (worst[k] > median);
        printf("  %-40s %12.2f %-4s %2s %10.2f   %s\n",
               k == 0 ? "translation, worst request per KB"
               : k == 1 ? "translation, worst answer per KB"
                        : "translation, worst stream per KB",
               worst[k], "us", "<=", median,
               worst[k] > median ? "MISSED" : "met");
    }


    return rc;
}


/* one translation of in, timed; -1 when it failed */

static double
bench_once(const bench_case_t *c, const unsigned char *in, size_t len)
{
    int                 rc;
    double              t0, t1;
    size_t              used;
    unsigned            ntoks;
    llmopt_err_t        err;
    llmopt_xlate_t      x;
    llmopt_xlate_out_t  out;

    memset(&x, 0, sizeof(x));
    x.client = c->client;
    x.upstream = c->upstream;
    x.max_tokens = 4096;
    x.created = 1767225600;

    out.data = bench_out;
    out.len = 0;
    out.cap = sizeof(bench_out);

    t0 = bench_now();

    if (c->kind == 2) {
        llmopt_xlate_stream_init(&bench_st, &x, bench_line,
                                 sizeof(bench_line));
        if (c->client == LLMOPT_DIALECT_RESPONSES) {
            llmopt_xlate_stream_keep(&bench_st, bench_keep,
                                     sizeof(bench_keep));
        }

        rc = llmopt_xlate_stream_feed(&bench_st, in, len, &out, &used);
        if (rc == LLMOPT_OK) {
            rc = llmopt_xlate_stream_finish(&bench_st, &out);
        }

        t1 = bench_now();

        return (rc == LLMOPT_OK && !bench_st.s.failed) ? t1 - t0 : -1;
    }

    rc = llmopt_json_parse(in, len, bench_toks, BENCH_TOKS, 64, &ntoks, &err);

    if (rc == LLMOPT_OK) {
        rc = (c->kind == 0)
             ? llmopt_translate_request(&x, in, len, bench_toks, ntoks, &out,
                                        &err)
             : llmopt_translate_response(&x, in, len, bench_toks, ntoks,
                                         &out, &err);
    }

    t1 = bench_now();

    return rc == LLMOPT_OK ? t1 - t0 : -1;
}


/* a stream of the upstream's dialect with BENCH_DELTAS text deltas */

static size_t
bench_stream(llmopt_dialect_e upstream, unsigned char *buf, size_t size)
{
    int          k;
    size_t       n;
    static const char  text[] = "The quick brown fox jumps over the lazy "
                                "dog, twice \\u00e9 and again.";

    n = 0;

#define bench_put(...)                                                       \
    n += (size_t) snprintf((char *) buf + n, size - n, __VA_ARGS__)

    if (upstream == LLMOPT_DIALECT_OPENAI) {
        bench_put("data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion."
                  "chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{"
                  "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                  "\"\"},\"finish_reason\":null}]}\n\n");

        for (k = 0; k < BENCH_DELTAS; k++) {
            bench_put("data: {\"id\":\"chatcmpl-b\",\"object\":\"chat."
                      "completion.chunk\",\"created\":1,\"model\":\"m\","
                      "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                      "\"%s\"},\"finish_reason\":null}]}\n\n", text);
        }

        bench_put("data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion."
                  "chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{"
                  "\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                  "data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion."
                  "chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],"
                  "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":"
                  "%d,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n",
                  BENCH_DELTAS, BENCH_DELTAS + 10);
        return n;
    }

    bench_put("event: message_start\ndata: {\"type\":\"message_start\","
              "\"message\":{\"id\":\"msg_b\",\"type\":\"message\",\"role\":"
              "\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{"
              "\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
              "event: content_block_start\ndata: {\"type\":"
              "\"content_block_start\",\"index\":0,\"content_block\":{"
              "\"type\":\"text\",\"text\":\"\"}}\n\n");

    for (k = 0; k < BENCH_DELTAS; k++) {
        bench_put("event: content_block_delta\ndata: {\"type\":"
                  "\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                  "\"text_delta\",\"text\":\"%s\"}}\n\n", text);
    }

    bench_put("event: content_block_stop\ndata: {\"type\":"
              "\"content_block_stop\",\"index\":0}\n\n"
              "event: message_delta\ndata: {\"type\":\"message_delta\","
              "\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{"
              "\"output_tokens\":%d}}\n\n"
              "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
              BENCH_DELTAS);

#undef bench_put

    return n;
}


static unsigned char *
bench_read(const char *name, size_t *len)
{
    FILE           *f;
    long            n;
    char            path[512];
    unsigned char  *buf;

    snprintf(path, sizeof(path), "t/data/translate/%s", name);

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);
    *len = (size_t) n;

    return buf;
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}


static int
bench_cmp(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}
