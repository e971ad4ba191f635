/*
 * Copyright (C) llmopt authors
 *
 * The cascade core (llmopt_cascade.h): each signal, the extractor and the
 * agreement, the acceptance model from a cold start, the forced share and
 * its propensities, the decision's threshold and every bound.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "llmopt_cascade.h"
#include "llmopt_usage_types.h"


#define S(s)  s, sizeof(s) - 1


static void test_markers(void);
static void test_agreement(void);
static void test_format(void);
static void test_signals(void);
static void test_model(void);
static void test_forced(void);
static void test_threshold(void);
static void test_bounds(void);
static void test_loop(void);
static void make_example(llmopt_rng_t *rng, double *x, double *y);
static void set_input(llmopt_cascade_input_t *in,
    llmopt_cascade_tier_t *tiers);
static void set_model(llmopt_cascade_model_t *m, double *x, double p);


/* text, refusal markers, hedge markers in it */

typedef struct {
    const char  *text;
    unsigned     refusals;
    unsigned     hedges;
    const char  *name;
} marker_case_t;

static const marker_case_t  marker_cases[] = {
    { "I'm sorry, but I CANNOT help.", 2, 0, "two refusals, any case" },
    { "As an AI model", 1, 0, "as an ai" },
    { "Paris is the capital.", 0, 0, "a plain answer" },
    { "xi cannot", 0, 0, "a marker starts a word" },
    { "I think it is probably B, maybe C", 0, 3, "three hedges" },
    { "Unlikely", 0, 0, "not inside a word" }
};


static void
test_markers(void)
{
    char                 *big;
    size_t                n;
    unsigned              i;
    const marker_case_t  *c;

    for (i = 0; i < sizeof(marker_cases) / sizeof(marker_cases[0]); i++) {
        c = &marker_cases[i];
        n = strlen(c->text);
        ok(llmopt_cascade_refusals(c->text, n) == c->refusals
           && llmopt_cascade_hedges(c->text, n) == c->hedges,
           "markers: %s", c->name);
    }

    is_int(llmopt_cascade_refusals(NULL, 0), 0, "refusals: no text");

    n = 2 * LLMOPT_CASCADE_SCAN_MAX;
    big = malloc(n);
    memset(big, 'x', n);
    memcpy(big + LLMOPT_CASCADE_SCAN_MAX + 10, " i cannot", 9);
    is_int(llmopt_cascade_refusals(big, n), 0,
           "refusals: none past the scan bound");
    memcpy(big + 10, " i cannot", 9);
    is_int(llmopt_cascade_refusals(big, n), 1,
           "refusals: found before the bound");
    free(big);
}


static void
test_agreement(void)
{
    int                         rc;
    char                       *big;
    llmopt_err_t                err;
    llmopt_str_t                span;
    llmopt_cascade_extractor_t  text, rx, whole;

    rc = llmopt_cascade_extractor_init(&text, NULL, &err);
    is_int(rc, LLMOPT_OK, "normalised-text extractor");

    ok(llmopt_cascade_agree(&text, S("  The Answer is  B."),
                            S("the answer is\nb")),
       "text: case, white space, punctuation folded");
    ok(!llmopt_cascade_agree(&text, S("3.5"), S("35")),
       "text: a decimal point stays");
    ok(llmopt_cascade_agree(&text, S("1,000 apples"), S("1000 apples!")),
       "text: a thousands comma goes");
    ok(!llmopt_cascade_agree(&text, S("B"), S("C")), "text: B is not C");
    ok(!llmopt_cascade_agree(&text, S("..."), S("!!")),
       "text: nothing left agrees with nothing");
    ok(!llmopt_cascade_agree(&text, NULL, 0, S("B")), "text: no answer");

    rc = llmopt_cascade_extractor_init(&rx, "answer is \\(?([A-J])", &err);
    is_int(rc, LLMOPT_OK, "regex extractor");

    ok(llmopt_cascade_agree(&rx, S("So the answer is (C), since..."),
                            S("I think the answer is C")),
       "regex: the groups agree, the rest differs");
    ok(!llmopt_cascade_agree(&rx, S("the answer is C"),
                             S("the answer is D")),
       "regex: the groups differ");
    ok(!llmopt_cascade_agree(&rx, S("C"), S("C")),
       "regex: no match agrees with nothing");
    rc = llmopt_cascade_extract(&rx, S("x answer is D y"), &span);
    ok(rc == LLMOPT_OK && span.len == 1 && span.data[0] == 'D',
       "regex: the group extracted");
    is_int(llmopt_cascade_extract(&rx, S("nothing"), &span), LLMOPT_DECLINED,
           "regex: declined without a match");

    rc = llmopt_cascade_extractor_init(&whole, "[0-9]+", &err);
    is_int(rc, LLMOPT_OK, "regex without a group");
    rc = llmopt_cascade_extract(&whole, S("about 42 of them"), &span);
    ok(rc == LLMOPT_OK && span.len == 2 && memcmp(span.data, "42", 2) == 0,
       "regex without a group: the whole match");
    ok(llmopt_cascade_agree(&whole, S("it is 42"), S("42, surely")),
       "regex without a group: agreement");

    big = malloc(2 * LLMOPT_CASCADE_EXTRACT_MAX);
    memset(big, 'x', 2 * LLMOPT_CASCADE_EXTRACT_MAX);
    memcpy(big + LLMOPT_CASCADE_EXTRACT_MAX + 5, "77", 2);
    is_int(llmopt_cascade_extract(&whole, big, 2 * LLMOPT_CASCADE_EXTRACT_MAX,
                                  &span),
           LLMOPT_DECLINED, "regex: nothing past the extract bound");
    free(big);
    llmopt_cascade_extractor_free(&whole);

    rc = llmopt_cascade_extractor_init(&whole, "([A-", &err);
    is_int(rc, LLMOPT_ERROR, "a bad regex fails");
    ok(strstr(err.msg, "([A-") != NULL, "and says which: %s", err.msg);
    is_int(whole.has_regex, 0, "and holds nothing to free");

    llmopt_cascade_extractor_free(&rx);
    llmopt_cascade_extractor_free(&text);
}


static void
test_format(void)
{
    is_int(llmopt_cascade_format_asked(
               S("Which is a fruit?\nA) stone\n  B) apple\nC) car\n")),
           LLMOPT_CASCADE_FORMAT_LETTER, "asked: lettered options");
    is_int(llmopt_cascade_format_asked(S("Q?\n(A) one\n(B) two")),
           LLMOPT_CASCADE_FORMAT_LETTER, "asked: (A) options");
    is_int(llmopt_cascade_format_asked(S("Reply with the letter only")),
           LLMOPT_CASCADE_FORMAT_LETTER, "asked: the letter");
    is_int(llmopt_cascade_format_asked(S("How many legs has a spider?")),
           LLMOPT_CASCADE_FORMAT_NUMBER, "asked: how many");
    is_int(llmopt_cascade_format_asked(S("A) only one option")),
           LLMOPT_CASCADE_FORMAT_NONE, "asked: one option is no list");
    is_int(llmopt_cascade_format_asked(S("Write a poem")),
           LLMOPT_CASCADE_FORMAT_NONE, "asked: nothing");

    ok(llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_LETTER, S("B")),
       "letter: B");
    ok(llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_LETTER,
                                   S(" **(C)** because")),
       "letter: (C) in bold");
    ok(llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_LETTER,
                                   S("Spiders... The answer is: D.")),
       "letter: answer is D");
    ok(!llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_LETTER,
                                    S("a spider has eight legs")),
       "letter: not the article a");
    ok(!llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_LETTER,
                                    S("Kittens")),
       "letter: no letter");
    ok(llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_NUMBER,
                                   S("It has 8.")),
       "number: 8");
    ok(!llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_NUMBER,
                                    S("eight")),
       "number: none");
    ok(!llmopt_cascade_format_match(LLMOPT_CASCADE_FORMAT_NONE, S("B")),
       "no format asked: no match");
}


static void
test_signals(void)
{
    char                        *big;
    double                       x[LLMOPT_CASCADE_DIM];
    double                       req[20];
    unsigned                     i;
    llmopt_err_t                 err;
    llmopt_cascade_answer_t      ans;
    llmopt_cascade_extractor_t   text;

    llmopt_cascade_extractor_init(&text, NULL, &err);

    is_int(LLMOPT_CASCADE_DIM, 31, "31 signals");
    is_int(sizeof(llmopt_cascade_model_t), 512,
           "a tier's model: 512 bytes (docs/CASCADE.md)");
    is_str(llmopt_cascade_signal_name(LLMOPT_CASCADE_SIG_LENGTH),
           "cascade_length", "signal name: length");
    is_str(llmopt_cascade_signal_name(LLMOPT_CASCADE_DIM - 1),
           "cascade_request", "signal name: a request dimension");
    ok(llmopt_cascade_signal_name(LLMOPT_CASCADE_DIM) == NULL,
       "signal name: none past the end");

    memset(&ans, 0, sizeof(ans));
    ans.text = "B, I think so...";
    ans.len = strlen(ans.text);
    ans.finish = LLMOPT_FINISH_STOP;
    ans.format = LLMOPT_CASCADE_FORMAT_LETTER;

    llmopt_cascade_signals(&text, &ans, x);

    is_num(x[LLMOPT_CASCADE_SIG_BIAS], 1, 0, "bias");
    is_num(x[LLMOPT_CASCADE_SIG_LENGTH], log2(1 + 16.0 / 4) / 16, 1e-12,
           "length: tokens from bytes");
    is_num(x[LLMOPT_CASCADE_SIG_EMPTY], 0, 0, "not empty");
    is_num(x[LLMOPT_CASCADE_SIG_COMPLETE], 1, 0, "complete");
    is_num(x[LLMOPT_CASCADE_SIG_TRUNCATED], 0, 0, "not truncated");
    is_num(x[LLMOPT_CASCADE_SIG_REFUSAL], 0, 0, "no refusal");
    is_num(x[LLMOPT_CASCADE_SIG_HEDGE], 0.25, 0, "one hedge");
    is_num(x[LLMOPT_CASCADE_SIG_LOGPROB_NONE], 1, 0, "logprobs absent: flag");
    is_num(x[LLMOPT_CASCADE_SIG_LOGPROB_MEAN], 0, 0, "and no mean");
    is_num(x[LLMOPT_CASCADE_SIG_AGREE_NONE], 1, 0, "no pair: flag");
    is_num(x[LLMOPT_CASCADE_SIG_FORMAT_ASKED], 1, 0, "format asked");
    is_num(x[LLMOPT_CASCADE_SIG_FORMAT_MATCH], 1, 0, "format matched");

    ans.tokens = 255;
    ans.finish = LLMOPT_FINISH_LENGTH;
    ans.has_logprobs = 1;
    ans.logprob_mean = -0.1;
    ans.logprob_min = -2;
    ans.other = "it is b";
    ans.other_len = 7;
    ans.text = "I'm sorry, I can't.";
    ans.len = strlen(ans.text);

    for (i = 0; i < 20; i++) {
        req[i] = i + 1;
    }

    req[3] = NAN;
    ans.request = req;
    ans.request_d = 20;

    llmopt_cascade_signals(&text, &ans, x);

    is_num(x[LLMOPT_CASCADE_SIG_LENGTH], 0.5, 1e-12, "length: 255 tokens");
    is_num(x[LLMOPT_CASCADE_SIG_COMPLETE], 0, 0, "truncated: not complete");
    is_num(x[LLMOPT_CASCADE_SIG_TRUNCATED], 1, 0, "truncated");
    is_num(x[LLMOPT_CASCADE_SIG_REFUSAL], 1, 0, "a refusal");
    is_num(x[LLMOPT_CASCADE_SIG_LOGPROB_NONE], 0, 0, "logprobs given");
    is_num(x[LLMOPT_CASCADE_SIG_LOGPROB_MEAN], exp(-0.1), 1e-12,
           "logprob mean");
    is_num(x[LLMOPT_CASCADE_SIG_LOGPROB_MIN], exp(-2), 1e-12, "logprob min");
    is_num(x[LLMOPT_CASCADE_SIG_AGREE_NONE], 0, 0, "a pair");
    is_num(x[LLMOPT_CASCADE_SIG_AGREE], 0, 0, "that disagrees");
    is_num(x[LLMOPT_CASCADE_SIG_FORMAT_MATCH], 0, 0, "no letter");
    is_num(x[LLMOPT_CASCADE_SIG_REQUEST], 1, 0, "request feature 0");
    is_num(x[LLMOPT_CASCADE_SIG_REQUEST + 3], 0, 0, "a NaN feature is 0");
    is_num(x[LLMOPT_CASCADE_DIM - 1], LLMOPT_CASCADE_REQ_DIM, 0,
           "request features up to the bound");

    ans.finish = LLMOPT_FINISH_OTHER;
    ans.logprob_mean = NAN;
    ans.text = "";
    ans.len = 0;
    ans.other = "";
    ans.other_len = 0;
    ans.tokens = 0;
    llmopt_cascade_signals(&text, &ans, x);
    is_num(x[LLMOPT_CASCADE_SIG_FILTERED], 1, 0, "filtered");
    is_num(x[LLMOPT_CASCADE_SIG_EMPTY], 1, 0, "empty");
    is_num(x[LLMOPT_CASCADE_SIG_LOGPROB_NONE], 1, 0,
           "a NaN logprob: absent");
    is_num(x[LLMOPT_CASCADE_SIG_AGREE], 0, 0, "two empty answers: no");

    /* a huge answer: the length counts all of it, the scans a bound */

    big = malloc(1 << 24);
    memset(big, 'y', 1 << 24);
    memcpy(big + (1 << 23), " i cannot", 9);
    ans.text = big;
    ans.len = 1 << 24;
    ans.other = big;
    ans.other_len = 1 << 24;
    ans.finish = LLMOPT_FINISH_STOP;
    llmopt_cascade_signals(&text, &ans, x);
    is_num(x[LLMOPT_CASCADE_SIG_LENGTH], fmin(1, log2(1 + (1 << 22)) / 16),
           1e-12, "16 MiB: length");
    is_num(x[LLMOPT_CASCADE_SIG_REFUSAL], 0, 0, "16 MiB: bounded scan");
    is_num(x[LLMOPT_CASCADE_SIG_AGREE], 1, 0, "16 MiB: agreement bounded");
    free(big);
}


/*
 * A separable problem: an answer is good when its pair agrees and it was
 * not truncated, whatever its length and request features.
 */

static void
make_example(llmopt_rng_t *rng, double *x, double *y)
{
    unsigned  i, agree, cut;

    memset(x, 0, LLMOPT_CASCADE_DIM * sizeof(double));
    agree = llmopt_rng_below(rng, 2);
    cut = llmopt_rng_below(rng, 4) == 0;

    x[LLMOPT_CASCADE_SIG_BIAS] = 1;
    x[LLMOPT_CASCADE_SIG_LENGTH] = llmopt_rng_uniform(rng);
    x[LLMOPT_CASCADE_SIG_AGREE] = agree;
    x[LLMOPT_CASCADE_SIG_TRUNCATED] = cut;
    x[LLMOPT_CASCADE_SIG_COMPLETE] = !cut;
    x[LLMOPT_CASCADE_SIG_LOGPROB_NONE] = 1;

    for (i = 0; i < 4; i++) {
        x[LLMOPT_CASCADE_SIG_REQUEST + i] = llmopt_rng_normal(rng);
    }

    *y = agree && !cut;
}


static void
test_model(void)
{
    double                  x[LLMOPT_CASCADE_DIM], y, p, worst_good,
                            worst_bad;
    unsigned                i, right;
    llmopt_rng_t            rng;
    llmopt_cascade_conf_t   conf;
    llmopt_cascade_model_t  m;

    llmopt_cascade_conf_default(&conf);
    memset(&m, 0, sizeof(m));
    llmopt_rng_seed(&rng, 7);

    make_example(&rng, x, &y);
    is_num(llmopt_cascade_predict(&m, x), 0.5, 0, "cold start: p = 0.5");

    is_int(llmopt_cascade_learn(&m, &conf, x, NAN, 1), LLMOPT_DECLINED,
           "a NaN label is refused");
    is_int(llmopt_cascade_learn(&m, &conf, x, 1.5, 1), LLMOPT_DECLINED,
           "a label above 1 is refused");
    is_int(llmopt_cascade_learn(&m, &conf, x, 1, 0), LLMOPT_DECLINED,
           "a zero weight is refused");
    is_int(m.updates, 0, "and nothing learned");

    for (i = 0; i < 400; i++) {
        make_example(&rng, x, &y);
        llmopt_cascade_learn(&m, &conf, x, y, 1);
    }

    is_int(m.updates, 400, "400 labels learned");

    right = 0;
    worst_good = 1;
    worst_bad = 0;

    for (i = 0; i < 1000; i++) {
        make_example(&rng, x, &y);
        p = llmopt_cascade_predict(&m, x);
        right += (p > 0.5) == (y > 0.5);

        if (y > 0.5) {
            worst_good = fmin(worst_good, p);
        } else {
            worst_bad = fmax(worst_bad, p);
        }
    }

    is_int(right, 1000, "separable: every held-out answer on its side");
    ok(worst_good > 0.8, "the good ones confidently (min p %.3f)",
       worst_good);
    ok(worst_bad < 0.2, "the bad ones confidently (max p %.3f)", worst_bad);
}


static void
set_input(llmopt_cascade_input_t *in, llmopt_cascade_tier_t *tiers)
{
    memset(in, 0, sizeof(*in));
    memset(tiers, 0, 3 * sizeof(*tiers));

    tiers[0].quality = 0.6;
    tiers[0].cost = 0.001;
    tiers[0].latency_ms = 500;
    tiers[1].quality = 0.9;
    tiers[1].cost = 0.01;
    tiers[1].latency_ms = 1000;
    tiers[2].quality = 0.95;
    tiers[2].cost = 0.05;
    tiers[2].latency_ms = 2000;

    in->tier = 0;
    in->n_tiers = 3;
    in->tiers = tiers;
    in->tried = 1;
    in->spent = 0.001;
    in->elapsed_ms = 500;
}


/* a model whose p is exactly p: the bias alone */

static void
set_model(llmopt_cascade_model_t *m, double *x, double p)
{
    memset(m, 0, sizeof(*m));
    memset(x, 0, LLMOPT_CASCADE_DIM * sizeof(double));
    x[LLMOPT_CASCADE_SIG_BIAS] = 1;
    m->w[LLMOPT_CASCADE_SIG_BIAS] = log(p / (1 - p));
}


/* one decision's whole context, the forced share off, quality alone */

typedef struct {
    double                     x[LLMOPT_CASCADE_DIM];
    llmopt_rng_t               rng;
    llmopt_reward_conf_t       reward;
    llmopt_cascade_conf_t      conf;
    llmopt_cascade_model_t     m;
    llmopt_cascade_tier_t      tiers[3];
    llmopt_cascade_input_t     in;
    llmopt_cascade_decision_t  out;
} fixture_t;


static void fixture_init(fixture_t *f, uint64_t seed, double p);
static void decide(fixture_t *f);


static void
fixture_init(fixture_t *f, uint64_t seed, double p)
{
    memset(f, 0, sizeof(*f));
    llmopt_cascade_conf_default(&f->conf);
    f->conf.forced_share = 0;
    f->conf.forced_floor = 0;
    f->reward.quality = 1;
    llmopt_rng_seed(&f->rng, seed);
    set_input(&f->in, f->tiers);
    set_model(&f->m, f->x, p);
}


static void
decide(fixture_t *f)
{
    llmopt_cascade_decide(&f->m, &f->conf, &f->reward, &f->in, f->x, &f->rng,
                          &f->out);
}


static void
test_forced(void)
{
    double     want, sd;
    unsigned   i, forced, bad;
    fixture_t  f;

    fixture_init(&f, 11, 0.99);
    llmopt_cascade_conf_default(&f.conf);

    is_num(llmopt_cascade_forced_share(&f.conf, 0), 0.1, 1e-12,
           "forced share at the start");
    is_num(llmopt_cascade_forced_share(&f.conf, 1000), 0.055, 1e-12,
           "halved towards the floor after forced_half decisions");
    is_num(llmopt_cascade_forced_share(&f.conf, 100000), 0.01, 1e-9,
           "and down to the floor");

    forced = 0;
    bad = 0;

    for (i = 0; i < 20000; i++) {
        decide(&f);

        if (f.out.why == LLMOPT_CASCADE_WHY_FORCED) {
            forced++;
            bad += !f.out.escalate
                   || fabs(f.out.propensity - f.out.forced_share) > 1e-15;

        } else {
            bad += f.out.why != LLMOPT_CASCADE_WHY_ACCEPT || f.out.escalate
                   || fabs(f.out.propensity - (1 - f.out.forced_share))
                      > 1e-15;
        }
    }

    is_int(bad, 0, "accepts at 1 - share, forced escalations at share");
    is_int(f.m.decisions, 20000, "every decision counted");

    /* the share decays from 0.1: the count of 20000 draws, binomial-like */

    want = 0;

    for (i = 0; i < 20000; i++) {
        want += llmopt_cascade_forced_share(&f.conf, i);
    }

    sd = sqrt(want * (1 - want / 20000));
    ok(fabs(forced - want) < 4 * sd,
       "forced escalations %u, expected %.0f +- %.0f", forced, want, sd);

    f.conf.forced_share = 0;
    f.conf.forced_floor = 0;
    decide(&f);
    ok(!f.out.escalate && f.out.propensity == 1,
       "no forced share: an accept at propensity 1");

    set_model(&f.m, f.x, 0.1);
    f.conf.forced_share = 0.5;
    decide(&f);
    ok(f.out.escalate && f.out.why == LLMOPT_CASCADE_WHY_ESCALATE
       && f.out.propensity == 1,
       "the rule's escalation is not drawn: propensity 1");
}


static void
test_threshold(void)
{
    double     t_quality, t_cost;
    fixture_t  f;

    fixture_init(&f, 3, 0.7);

    decide(&f);
    t_quality = f.out.threshold;
    is_num(t_quality, 0.9, 1e-12, "quality alone: the threshold is the next "
           "tier's quality");
    ok(f.out.escalate && f.out.next == 1, "p 0.7 < 0.9: escalate to tier 1");

    f.reward.quality = 0.5;
    f.reward.cost = 0.5;
    f.reward.cost_ref = 0.01;
    decide(&f);
    t_cost = f.out.threshold;
    ok(t_cost < t_quality - 0.2, "a cost weight lowers it (%.3f < %.3f)",
       t_cost, t_quality);
    ok(!f.out.escalate && f.out.why == LLMOPT_CASCADE_WHY_ACCEPT,
       "p 0.7 now accepted");
    is_num(f.out.reward_accept,
           0.5 * 0.7 + 0.5 * 0.01 / (0.01 + 0.001), 1e-12,
           "the expected reward of accepting");

    f.reward.cost = 0.2;
    decide(&f);
    ok(f.out.threshold > t_cost && f.out.threshold < t_quality,
       "a smaller cost weight, a threshold between (%.3f)", f.out.threshold);

    f.reward.quality = 0;
    f.reward.cost = 1;
    decide(&f);
    ok(!f.out.escalate && f.out.threshold == 0,
       "cost alone: never worth escalating");
}


/* each bound alone, and the decision it forces: accept, and why */

typedef struct {
    unsigned              tier;
    unsigned              tried;
    unsigned              max_tiers;
    unsigned              streamed;
    double                time_budget_ms;
    llmopt_cascade_why_e  why;
    const char           *name;
} bound_case_t;

static const bound_case_t  bound_cases[] = {
    { 0, 1, 3, 1, 0, LLMOPT_CASCADE_WHY_STREAMED, "streamed" },
    { 1, 2, 2, 0, 0, LLMOPT_CASCADE_WHY_MAX_TIERS, "max_tiers 2 tried" },
    { 2, 2, 3, 0, 0, LLMOPT_CASCADE_WHY_LAST_TIER, "the last tier" },
    { 0, 1, 3, 0, 400, LLMOPT_CASCADE_WHY_TIME, "time budget spent" },
    { 0, 1, 3, 0, 1200, LLMOPT_CASCADE_WHY_TIME,
      "the next tier would overrun the time budget" }
};


static void
test_bounds(void)
{
    unsigned             i;
    fixture_t            f;
    const bound_case_t  *c;

    /* p 0.1: the rule escalates wherever a bound lets it */

    fixture_init(&f, 5, 0.1);
    decide(&f);
    ok(f.out.escalate && f.out.next == 1, "unbounded: escalate to tier 1");

    for (i = 0; i < sizeof(bound_cases) / sizeof(bound_cases[0]); i++) {
        c = &bound_cases[i];
        set_input(&f.in, f.tiers);
        f.in.tier = c->tier;
        f.in.tried = c->tried;
        f.in.streamed = c->streamed;
        f.conf.max_tiers = c->max_tiers;
        f.conf.time_budget_ms = c->time_budget_ms;
        decide(&f);
        ok(!f.out.escalate && f.out.why == c->why && f.out.propensity == 1,
           "%s: accept (%s) at propensity 1", c->name,
           llmopt_cascade_why_name(f.out.why));
    }

    set_input(&f.in, f.tiers);
    f.conf.max_tiers = 3;
    f.conf.time_budget_ms = 3000;
    f.tiers[1].skip = 1;
    decide(&f);
    ok(f.out.escalate && f.out.next == 2,
       "tier 1 skipped (breaker, budget): escalate to tier 2");

    f.tiers[2].skip = 1;
    decide(&f);
    ok(!f.out.escalate && f.out.why == LLMOPT_CASCADE_WHY_SKIPPED,
       "every later tier skipped: accept");
    is_str(llmopt_cascade_why_name(f.out.why), "skipped", "why named");
}


/*
 * The whole loop from a cold start: a cheap tier whose hedged answers
 * (a third of them) are wrong, a strong tier that is right; the model
 * learns only from escalations (the strong answer labels the cheap one by
 * agreement) and feedback on what it accepts; after 2,000 requests it
 * escalates most wrong answers and few right ones.
 */

static void
test_loop(void)
{
    double                       x[LLMOPT_CASCADE_DIM], req[4];
    unsigned                     i, k, wrong, n[2], escalated[2];
    fixture_t                    f;
    llmopt_err_t                 err;
    llmopt_cascade_answer_t      ans;
    llmopt_cascade_extractor_t   rx;

    static const char  *right_text = "The answer is B.";
    static const char  *wrong_text = "I think it might be C, not sure.";
    static const char  *strong_text = "B";

    fixture_init(&f, 17, 0.5);          /* p 0.5: the cold start */
    llmopt_cascade_conf_default(&f.conf);
    f.reward.quality = 0.8;
    f.reward.cost = 0.2;
    f.reward.cost_ref = 0.01;

    llmopt_cascade_extractor_init(&rx, "([A-J])[^A-Za-z]*$", &err);

    memset(n, 0, sizeof(n));
    memset(escalated, 0, sizeof(escalated));

    for (i = 0; i < 2000; i++) {
        wrong = llmopt_rng_below(&f.rng, 3) == 0;

        memset(&ans, 0, sizeof(ans));
        ans.text = wrong ? wrong_text : right_text;
        ans.len = strlen(ans.text);
        ans.finish = LLMOPT_FINISH_STOP;
        ans.format = LLMOPT_CASCADE_FORMAT_LETTER;

        for (k = 0; k < 4; k++) {
            req[k] = llmopt_rng_normal(&f.rng);
        }

        ans.request = req;
        ans.request_d = 4;

        llmopt_cascade_signals(&rx, &ans, x);
        memcpy(f.x, x, sizeof(x));
        set_input(&f.in, f.tiers);
        f.tiers[1].quality = 0.95;
        f.tiers[1].cost = 0.02;
        decide(&f);

        if (i >= 1500) {
            n[wrong]++;
            escalated[wrong] += f.out.escalate;
        }

        if (f.out.escalate) {
            llmopt_cascade_learn(&f.m, &f.conf, x,
                                 llmopt_cascade_agree(&rx, ans.text, ans.len,
                                                      strong_text, 1),
                                 1);
        } else {
            llmopt_cascade_learn(&f.m, &f.conf, x, !wrong, 1);
        }
    }

    ok(escalated[1] >= 0.8 * n[1], "wrong answers escalated: %u of %u",
       escalated[1], n[1]);
    ok(escalated[0] <= 0.2 * n[0], "right answers escalated: %u of %u",
       escalated[0], n[0]);

    llmopt_cascade_extractor_free(&rx);
}


int
main(void)
{
    test_markers();
    test_agreement();
    test_format();
    test_signals();
    test_model();
    test_forced();
    test_threshold();
    test_bounds();
    test_loop();

    return tap_done();
}
