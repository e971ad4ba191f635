
/*
 * Copyright (C) llmopt authors
 *
 * What a cascade reads of a whole answer (llmopt_cascade.h): its text in
 * an OpenAI or an Anthropic answer object, an OpenAI answer's token
 * log-probabilities and where they are.
 */


#include <stdlib.h>
#include <string.h>

#include "llmopt_cascade.h"


int
llmopt_cascade_answer_text(llmopt_dialect_e dialect,
    const unsigned char *buf, const llmopt_json_tok_t *toks, unsigned ntoks)
{
    int       v, t;
    unsigned  i, n, item;

    if (ntoks == 0 || toks[0].type != JSMN_OBJECT) {
        return -1;
    }

    if (dialect == LLMOPT_DIALECT_OPENAI) {
        v = llmopt_json_member(buf, toks, ntoks, 0, "choices", 7);

        if (v < 0 || toks[v].type != JSMN_ARRAY || toks[v].size == 0
            || (unsigned) v + 1 >= ntoks || toks[v + 1].type != JSMN_OBJECT)
        {
            return -1;
        }

        v = llmopt_json_member(buf, toks, ntoks, (unsigned) v + 1, "message",
                               7);

        if (v < 0 || toks[v].type != JSMN_OBJECT) {
            return -1;
        }

        v = llmopt_json_member(buf, toks, ntoks, (unsigned) v, "content", 7);

        return (v >= 0 && llmopt_json_kind(buf, &toks[v])
                          == LLMOPT_JSON_STRING) ? v : -1;
    }

    /* Anthropic: the first block of type "text" */

    v = llmopt_json_member(buf, toks, ntoks, 0, "content", 7);

    if (v < 0 || toks[v].type != JSMN_ARRAY) {
        return -1;
    }

    n = (unsigned) toks[v].size;
    item = (unsigned) v + 1;

    for (i = 0; i < n && item < ntoks; i++) {
        if (toks[item].type == JSMN_OBJECT) {
            t = llmopt_json_member(buf, toks, ntoks, item, "type", 4);

            if (t >= 0 && llmopt_json_str_eq(buf, &toks[t], "text", 4)) {
                t = llmopt_json_member(buf, toks, ntoks, item, "text", 4);

                if (t >= 0
                    && llmopt_json_kind(buf, &toks[t]) == LLMOPT_JSON_STRING)
                {
                    return t;
                }
            }
        }

        item = llmopt_json_skip(toks, ntoks, item);
    }

    return -1;
}


/* The "logprobs" member of choices[0] of an OpenAI answer, or -1. */

static int
llmopt_cascade_logprobs_tok(const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks)
{
    int  v;

    if (ntoks == 0 || toks[0].type != JSMN_OBJECT) {
        return -1;
    }

    v = llmopt_json_member(buf, toks, ntoks, 0, "choices", 7);

    if (v < 0 || toks[v].type != JSMN_ARRAY || toks[v].size == 0
        || (unsigned) v + 1 >= ntoks || toks[v + 1].type != JSMN_OBJECT)
    {
        return -1;
    }

    return llmopt_json_member(buf, toks, ntoks, (unsigned) v + 1,
                              "logprobs", 8);
}


unsigned
llmopt_cascade_answer_logprobs(const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks, double *mean,
    double *min)
{
    int       v, lp;
    char      num[64];
    double    x, sum;
    size_t    len;
    unsigned  i, n, item, count;

    *mean = 0;
    *min = 0;

    v = llmopt_cascade_logprobs_tok(buf, toks, ntoks);

    if (v < 0 || toks[v].type != JSMN_OBJECT) {
        return 0;
    }

    v = llmopt_json_member(buf, toks, ntoks, (unsigned) v, "content", 7);

    if (v < 0 || toks[v].type != JSMN_ARRAY) {
        return 0;
    }

    n = (unsigned) toks[v].size;
    item = (unsigned) v + 1;
    count = 0;
    sum = 0;

    for (i = 0; i < n && item < ntoks; i++) {
        if (toks[item].type == JSMN_OBJECT) {
            lp = llmopt_json_member(buf, toks, ntoks, item, "logprob", 7);

            if (lp >= 0
                && llmopt_json_kind(buf, &toks[lp]) == LLMOPT_JSON_NUMBER)
            {
                len = (size_t) (toks[lp].end - toks[lp].start);

                if (len < sizeof(num)) {
                    memcpy(num, buf + toks[lp].start, len);
                    num[len] = '\0';
                    x = strtod(num, NULL);

                    if (count == 0 || x < *min) {
                        *min = x;
                    }

                    sum += x;
                    count++;
                }
            }
        }

        item = llmopt_json_skip(toks, ntoks, item);
    }

    if (count) {
        *mean = sum / count;
    }

    return count;
}


int
llmopt_cascade_answer_logprobs_span(const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks, size_t *start,
    size_t *end)
{
    int  v;

    v = llmopt_cascade_logprobs_tok(buf, toks, ntoks);

    if (v < 0 || llmopt_json_kind(buf, &toks[v]) == LLMOPT_JSON_NULL) {
        return LLMOPT_DECLINED;
    }

    llmopt_json_value_span(&toks[v], start, end);

    return LLMOPT_OK;
}
