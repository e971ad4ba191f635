/*
 * Copyright (C) llmopt authors
 *
 * bench-decision: the time of the decision path of the core -- parse,
 * features, the decision (llmopt_decide: the guardrails, then the bandit's
 * choice), rewrite -- for bodies of 2 KB and 100 KB made from real
 * RouterBench prompts, 8 arms, d = 16, LinUCB; the same with three
 * prompt variants chosen after the arm (Thompson over learned tallies,
 * the exact propensity's quadrature) and rewritten into the body; and
 * with the sparse learner (llmopt_sparse.h) choosing instead.  Links
 * src/ only.
 *
 *   build/bench-decision [routerbench-dir]
 *
 * Prints the median, quartiles and p99 of single decisions, each timed
 * alone with CLOCK_MONOTONIC, and the ratio of each figure to the budget
 * of DESIGN.md.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmopt_core.h"
#include "llmopt_request.h"
#include "llmopt_rewrite.h"
#include "llmopt_features.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"
#include "llmopt_catalog.h"
#include "llmopt_decide.h"
#include "llmopt_sparse.h"


#define BENCH_ARMS     8
#define BENCH_ROUNDS   20000
#define BENCH_TOKS     65536


static size_t bench_prompts(const char *dir, char *buf, size_t size);
static size_t bench_body(const char *text, size_t text_len, size_t target,
    char *out, size_t size);
static int bench_run(const char *label, const char *body, size_t len,
    double budget_median, double budget_p99);
static int bench_cmp(const void *a, const void *b);
static int bench_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);
static void *bench_alloc(void *ctx, size_t size);
static double bench_now(void);


static llmopt_json_tok_t     bench_toks[BENCH_TOKS];

/* "targets:" lines, the same form in every benchmark script */
static struct { char line[160]; }  bench_targets[8];
static unsigned                    bench_n_targets;


static void
bench_target(const char *what, const char *label, double value,
    const char *unit, const char *op, double target, int met)
{
    char  name[64];

    if (bench_n_targets == sizeof(bench_targets) / sizeof(bench_targets[0]))
    {
        return;
    }

    snprintf(name, sizeof(name), "%s, %s", what, label);
    snprintf(bench_targets[bench_n_targets++].line,
             sizeof(bench_targets[0].line), "  %-40s %12.2f %-4s %2s %10.2f"
             "   %s", name, value, unit, op, target, met ? "met" : "MISSED");
}
static double                bench_ns[BENCH_ROUNDS];
static llmopt_bandit_conf_t  bench_conf;
static llmopt_feature_spec_t bench_spec;
static unsigned char        *bench_block;
static unsigned char         bench_out[256 * 1024];

/* the sparse learner's rows: its table, and the request select reads */
static llmopt_sparse_conf_t      bench_sparse_conf;
static void                     *bench_sparse_table;
static llmopt_sparse_features_t  bench_sparse_f;
static const llmopt_request_t   *bench_req;
static unsigned                  bench_sparse;

/* the policy llmopt_decide() applies: 8 arms, LinUCB, a latency SLO */
static llmopt_catalog_t       bench_cat;
static const llmopt_policy_t *bench_policy;

static const char  bench_catalog[] =
    "models:\n"
    "  m0: {upstream: u, price: {input: 0.1, output: 0.4},"
    " context_window: 1000000}\n"
    "  m1: {upstream: u, price: {input: 0.2, output: 0.8}}\n"
    "  m2: {upstream: u, price: {input: 0.3, output: 1.2}}\n"
    "  m3: {upstream: u, price: {input: 0.5, output: 2}}\n"
    "  m4: {upstream: u, price: {input: 1, output: 4}}\n"
    "  m5: {upstream: u, price: {input: 2, output: 8}}\n"
    "  m6: {upstream: u, price: {input: 3, output: 12}}\n"
    "  m7: {upstream: u, price: {input: 5, output: 20}}\n"
    "policies:\n"
    "  p:\n"
    "    algorithm: linucb\n"
    "    arms: [m0, m1, m2, m3, m4, m5, m6, m7]\n"
    "    latency_slo: 2000\n"
    "  v:\n"
    "    algorithm: linucb\n"
    "    arms: [m0, m1, m2, m3, m4, m5, m6, m7]\n"
    "    latency_slo: 2000\n"
    "    variants:\n"
    "      control: ~\n"
    "      brief: {system: \"Answer in one short paragraph.\"}\n"
    "      steps:\n"
    "        append: \"Think step by step.\"\n"
    "        examples: [{user: \"2 + 2 * 3?\", assistant: \"8\"}]\n";

/* the variants' tallies, some learned: Thompson over three */
static llmopt_variant_tally_t  bench_variants[LLMOPT_VARIANT_TALLY(
                                   BENCH_ARMS)];


int
main(int argc, char **argv)
{
    int           rc;
    char         *text, *body;
    size_t        text_len, len;
    unsigned      i, a;
    double        x[LLMOPT_FEATURE_MAX_DIM];
    llmopt_err_t  err;
    llmopt_rng_t  rng;
    const char   *dir;

    dir = argc > 1 ? argv[1] : "../shared/data/routerbench";

    {
        llmopt_alloc_t  alloc = { bench_alloc, NULL };

        memset(&err, 0, sizeof(err));

        if (llmopt_catalog_load_string(&bench_cat, "bench", bench_catalog,
                                       sizeof(bench_catalog) - 1, &alloc,
                                       &err)
            != LLMOPT_OK
            || (bench_policy = llmopt_catalog_policy(&bench_cat, "p", 1))
               == NULL)
        {
            fprintf(stderr, "bench-decision: catalog: %s\n", err.msg);
            return 2;
        }
    }

    text = malloc(4 * 1024 * 1024);
    body = malloc(512 * 1024);

    if (text == NULL || body == NULL) {
        return 2;
    }

    text_len = bench_prompts(dir, text, 4 * 1024 * 1024);
    if (text_len < 200 * 1024) {
        fprintf(stderr, "bench-decision: could not read prompts from %s\n",
                dir);
        return 2;
    }

    /* d = 16: 11 dims of request features + 5 word buckets */

    memset(&bench_spec, 0, sizeof(bench_spec));
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_BIAS;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_INPUT_TOKENS;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_MESSAGES;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_SYSTEM_LEN;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_HAS_CODE;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_HAS_TOOLS;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_JSON_FORMAT;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_MAX_TOKENS;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_STREAM;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_HOUR;
    bench_spec.ids[bench_spec.n++] = LLMOPT_FEAT_WORDS;
    bench_spec.word_buckets = 5;

    if (llmopt_feature_spec_finish(&bench_spec, &err) != LLMOPT_OK
        || bench_spec.d != 16)
    {
        fprintf(stderr, "bench-decision: feature spec: d=%u %s\n",
                bench_spec.d, err.msg);
        return 2;
    }

    llmopt_bandit_conf_defaults(&bench_conf);
    bench_conf.algorithm = LLMOPT_ALG_LINUCB;
    bench_conf.n_arms = BENCH_ARMS;
    bench_conf.d = bench_spec.d;

    bench_block = malloc(llmopt_bandit_size(&bench_conf));
    if (bench_block == NULL) {
        return 2;
    }

    llmopt_bandit_init(&bench_conf, bench_block);

    /* a trained model: selection then costs what it costs in production */

    llmopt_rng_seed(&rng, 7);

    for (i = 0; i < 2000; i++) {
        for (a = 0; a < bench_spec.d; a++) {
            x[a] = llmopt_rng_uniform(&rng);
        }

        a = (unsigned) (llmopt_rng_next(&rng) % BENCH_ARMS);
        llmopt_bandit_update(&bench_conf, bench_block, a, x,
                             llmopt_rng_uniform(&rng));
    }

    printf("bench-decision: parse + features + select + rewrite, "
           "linucb, %d arms, d = %u, %d rounds each\n",
           BENCH_ARMS, bench_spec.d, BENCH_ROUNDS);

    rc = 0;

    len = bench_body(text, text_len, 2 * 1024, body, 512 * 1024);
    rc |= bench_run("2 KB", body, len, 5000, 20000);

    len = bench_body(text, text_len, 100 * 1024, body, 512 * 1024);
    rc |= bench_run("100 KB", body, len, 100000, 0);

    /* three prompt variants, chosen given the arm and rewritten in */

    bench_policy = llmopt_catalog_policy(&bench_cat, "v", 1);

    for (a = 0; a < BENCH_ARMS * LLMOPT_MAX_VARIANTS; a++) {
        bench_variants[a].reward.n = 40 + a % 7;
        bench_variants[a].reward.sum = (40 + a % 7) * (0.4 + 0.05 * (a % 3));
    }

    printf("bench-decision: the same with 3 prompt variants (policy v)\n");

    len = bench_body(text, text_len, 2 * 1024, body, 512 * 1024);
    rc |= bench_run("variants 2 KB", body, len, 5000, 20000);

    bench_policy = llmopt_catalog_policy(&bench_cat, "p", 1);

    /* the sparse learner: text features and SquareCB instead of LinUCB */

    llmopt_sparse_conf_defaults(&bench_sparse_conf);
    bench_sparse_conf.n_arms = BENCH_ARMS;
    bench_sparse_conf.d = bench_spec.d;

    bench_sparse_table = malloc(llmopt_sparse_size(&bench_sparse_conf));
    if (bench_sparse_table == NULL) {
        return 2;
    }

    llmopt_sparse_init(&bench_sparse_conf, bench_sparse_table);
    bench_sparse = 1;

    printf("bench-decision: the same, sparse (bits %u, ngrams %u), "
           "%zu bytes of weights\n", bench_sparse_conf.bits,
           bench_sparse_conf.ngrams, llmopt_sparse_size(&bench_sparse_conf));

    len = bench_body(text, text_len, 2 * 1024, body, 512 * 1024);
    rc |= bench_run("sparse 2 KB", body, len, 5000, 0);

    len = bench_body(text, text_len, 100 * 1024, body, 512 * 1024);
    rc |= bench_run("sparse 100 KB", body, len, 30000, 0);

    printf("targets:\n");

    for (i = 0; i < bench_n_targets; i++) {
        printf("%s\n", bench_targets[i].line);
    }

    return rc;
}


/*
 * Concatenates the prompt column of the RouterBench CSVs: enough text to
 * make bodies of real prompts.  The CSV has quoted fields with "" escapes.
 */

static size_t
bench_prompts(const char *dir, char *buf, size_t size)
{
    int          c, quoted, field;
    char         path[1024];
    FILE        *f;
    size_t       n;
    const char  *names[] = { "mbpp_test.csv", "arc_challenge_test.csv",
                             "winograde_test.csv" };
    unsigned     i;

    n = 0;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        quoted = 0;
        field = 0;

        while ((c = getc(f)) != EOF && n + 2 < size) {
            if (quoted) {
                if (c == '"') {
                    c = getc(f);
                    if (c != '"') {
                        quoted = 0;
                        ungetc(c, f);
                        continue;
                    }
                }

            } else if (c == '"') {
                quoted = 1;
                continue;

            } else if (c == ',') {
                if (field == 2) {
                    buf[n++] = ' ';
                }

                field++;
                continue;

            } else if (c == '\n') {
                field = 0;
                continue;
            }

            if (field == 2) {
                buf[n++] = (char) c;
            }
        }

        fclose(f);
    }

    return n;
}


/* An OpenAI chat body of about target bytes, the prompt JSON-escaped. */

static size_t
bench_body(const char *text, size_t text_len, size_t target, char *out,
    size_t size)
{
    size_t       n, i;
    const char  *head, *tail;

    head = "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":"
           "\"You are a helpful assistant.\"},{\"role\":\"user\","
           "\"content\":\"";
    tail = "\"}],\"temperature\":0.7,\"max_tokens\":512,\"stream\":false}";

    n = strlen(head);
    memcpy(out, head, n);

    for (i = 0; i < text_len && n + strlen(tail) + 8 < target
                && n + 8 < size; i++)
    {
        unsigned char  c = (unsigned char) text[i];

        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char) c;

        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';

        } else if (c < 0x20) {
            out[n++] = ' ';

        } else {
            out[n++] = (char) c;
        }
    }

    memcpy(out + n, tail, strlen(tail));
    n += strlen(tail);

    return n;
}


static int
bench_run(const char *label, const char *body, size_t len,
    double budget_median, double budget_p99)
{
    int                   rc;
    double                t0, median, p99;
    unsigned              i;
    llmopt_err_t          err;
    llmopt_rng_t          rng;
    llmopt_kv_t           set[3];
    llmopt_request_t      req;
    llmopt_guard_need_t   need;
    llmopt_decide_in_t    in;
    llmopt_decide_out_t   out;
    llmopt_feature_ctx_t  fctx;
    const llmopt_variant_t *variant;
    unsigned char         breach[LLMOPT_MAX_ARMS];
    uint64_t              until[LLMOPT_MAX_ARMS];
    double                x[LLMOPT_FEATURE_MAX_DIM];
    size_t                out_len;

    set[0].key.data = "model";
    set[0].key.len = 5;
    set[0].json.data = "\"gpt-4o-mini\"";
    set[0].json.len = 13;
    set[1].key.data = "temperature";
    set[1].key.len = 11;
    set[1].json.data = "0.2";
    set[1].json.len = 3;
    set[2].key.data = "max_tokens";
    set[2].key.len = 10;
    set[2].json.data = "256";
    set[2].json.len = 3;

    llmopt_feature_hour(&fctx, 13.5);
    fctx.tenant = "acme";
    fctx.tenant_len = 4;

    llmopt_rng_seed(&rng, 1);
    out_len = 0;

    memset(breach, 0, sizeof(breach));
    memset(until, 0, sizeof(until));
    memset(&in, 0, sizeof(llmopt_decide_in_t));

    in.catalog = &bench_cat;
    in.policy = bench_policy;
    in.variant_tally = bench_variants;
    in.x = x;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.rng = &rng;
    in.select = bench_select;

    for (i = 0; i < BENCH_ROUNDS; i++) {
        t0 = bench_now();

        rc = llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                                  (const unsigned char *) body, len,
                                  bench_toks, BENCH_TOKS, 64, &err);
        if (rc != LLMOPT_OK) {
            fprintf(stderr, "bench-decision: parse failed: %s\n", err.msg);
            return 1;
        }

        llmopt_features_build(&bench_spec, &req, &fctx, x);

        llmopt_guard_need(&req, &need);
        in.need = &need;
        bench_req = &req;

        if (llmopt_decide(&in, &out) != LLMOPT_DECIDE_OK
            || out.reason != LLMOPT_DECIDE_BANDIT)
        {
            fprintf(stderr, "bench-decision: select failed\n");
            return 1;
        }

        variant = out.variant >= 0 ? &bench_policy->variants[out.variant]
                                   : NULL;
        out_len = llmopt_request_rewrite_variant(&req, set, 3, variant,
                                                 bench_out);

        bench_ns[i] = bench_now() - t0;
    }

    if (out_len == 0 || out_len > sizeof(bench_out)) {
        return 1;
    }

    qsort(bench_ns, BENCH_ROUNDS, sizeof(double), bench_cmp);

    median = bench_ns[BENCH_ROUNDS / 2];
    p99 = bench_ns[BENCH_ROUNDS * 99 / 100];

    printf("  %-13s body %6zu B  median %8.2f us  (p25 %.2f, p75 %.2f)  "
           "p99 %8.2f us", label, len, median / 1000,
           bench_ns[BENCH_ROUNDS / 4] / 1000,
           bench_ns[BENCH_ROUNDS * 3 / 4] / 1000, p99 / 1000);

    printf("   median/budget %.2f", median / budget_median);

    if (budget_p99 > 0) {
        printf("  p99/budget %.2f", p99 / budget_p99);
    }

    printf("\n");

    /* the targets, printed at the end in the benchmarks' common form */

    bench_target("decision median", label, median / 1000, "us", "<=",
                 budget_median / 1000, median <= budget_median);

    if (budget_p99 > 0) {
        bench_target("decision p99", label, p99 / 1000, "us", "<=",
                     budget_p99 / 1000, p99 <= budget_p99);
    }

    return median <= budget_median && (budget_p99 <= 0 || p99 <= budget_p99)
           ? 0 : 1;
}


static int
bench_cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}


/* the bandit's choice, as the glue makes it: from the policy's block */

static int
bench_select(void *data, const double *x, const unsigned char *allowed,
    llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    llmopt_sparse_carry_t  carry;

    if (bench_sparse) {
        llmopt_sparse_features(&bench_sparse_conf,
                               bench_req->body + bench_req->prompt.start,
                               bench_req->prompt.end - bench_req->prompt.start,
                               NULL, 0, x, &bench_sparse_f);

        return llmopt_sparse_select(&bench_sparse_conf, bench_sparse_table,
                                    &bench_sparse_f, x, allowed, rng, choice,
                                    &carry);
    }

    return llmopt_bandit_select(&bench_conf, bench_block, x, allowed, rng,
                                choice);
}


static void *
bench_alloc(void *ctx, size_t size)
{
    return calloc(1, size);
}
