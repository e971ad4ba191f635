/*
 * Copyright (C) llmopt authors
 */


#include <stdlib.h>
#include <string.h>

#include "llmopt_feedback.h"
#include "llmopt_json.h"


static int llmopt_feedback_hex(const unsigned char *s, size_t n, char *lower,
    unsigned char *bytes);


int
llmopt_feedback_parse(const unsigned char *body, size_t len,
    llmopt_feedback_t *out, llmopt_err_t *err)
{
    int                  id_tok, token_tok, score_tok;
    char                *end, num[64];
    size_t               slen;
    unsigned             count;
    llmopt_err_t         jerr;
    llmopt_json_tok_t    toks[64];
    const unsigned char *s;

    memset(out, 0, sizeof(llmopt_feedback_t));
    memset(&jerr, 0, sizeof(llmopt_err_t));

    if (len > LLMOPT_FEEDBACK_MAX
        || llmopt_json_parse(body, len, toks, 64, 8, &count, &jerr)
           != LLMOPT_OK
        || count == 0)
    {
        out->code = "invalid_json";
        llmopt_err_set(err, 400, jerr.offset, "%s",
                       jerr.msg[0] ? jerr.msg
                                   : "Feedback must be a small JSON object.");
        return LLMOPT_ERROR;
    }

    id_tok = llmopt_json_member(body, toks, count, 0, "id", 2);
    token_tok = llmopt_json_member(body, toks, count, 0, "token", 5);
    score_tok = llmopt_json_member(body, toks, count, 0, "score", 5);

    /* the score: a number in [0, 1] */

    if (score_tok < 0
        || llmopt_json_kind(body, &toks[score_tok]) != LLMOPT_JSON_NUMBER)
    {
        goto bad_score;
    }

    slen = toks[score_tok].end - toks[score_tok].start;

    if (slen >= sizeof(num)) {
        goto bad_score;
    }

    memcpy(num, body + toks[score_tok].start, slen);
    num[slen] = '\0';

    out->score = strtod(num, &end);

    if (*end != '\0' || !(out->score >= 0.0 && out->score <= 1.0)) {
        goto bad_score;
    }

    /* the id, bare or in a signed token */

    if (token_tok >= 0) {
        if (llmopt_json_kind(body, &toks[token_tok]) != LLMOPT_JSON_STRING) {
            goto bad_id;
        }

        s = body + toks[token_tok].start;
        slen = toks[token_tok].end - toks[token_tok].start;

        if (slen != 32 + 1 + 64 || s[32] != '.'
            || llmopt_feedback_hex(s, 32, out->id_hex, out->id) != LLMOPT_OK
            || llmopt_feedback_hex(s + 33, 64, out->sig_hex, NULL)
               != LLMOPT_OK)
        {
            goto bad_id;
        }

        out->kind = LLMOPT_FEEDBACK_TOKEN;
        return LLMOPT_OK;
    }

    if (id_tok >= 0) {
        if (llmopt_json_kind(body, &toks[id_tok]) != LLMOPT_JSON_STRING) {
            goto bad_id;
        }

        s = body + toks[id_tok].start;
        slen = toks[id_tok].end - toks[id_tok].start;

        if (slen != 32
            || llmopt_feedback_hex(s, 32, out->id_hex, out->id) != LLMOPT_OK)
        {
            goto bad_id;
        }

        out->kind = LLMOPT_FEEDBACK_ID;
        return LLMOPT_OK;
    }

bad_id:

    out->code = "invalid_id";
    llmopt_err_set(err, 400, 0, "Feedback needs \"id\": the 32 hex digits "
                   "of X-LLMOpt-Request-Id, or \"token\".");
    return LLMOPT_ERROR;

bad_score:

    out->code = "invalid_score";
    llmopt_err_set(err, 400, 0, "\"score\" must be a number from 0 to 1.");
    return LLMOPT_ERROR;
}


/* n hex digits: lower-cased into lower (NUL-terminated), bytes if asked */

static int
llmopt_feedback_hex(const unsigned char *s, size_t n, char *lower,
    unsigned char *bytes)
{
    size_t         i;
    unsigned char  c, v;

    for (i = 0; i < n; i++) {
        c = s[i];

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c |= 0x20;
            v = c - 'a' + 10;

        } else {
            return LLMOPT_ERROR;
        }

        lower[i] = (char) c;

        if (bytes != NULL) {
            if (i & 1) {
                bytes[i / 2] |= v;
            } else {
                bytes[i / 2] = (unsigned char) (v << 4);
            }
        }
    }

    lower[n] = '\0';

    return LLMOPT_OK;
}
