
/*
 * Copyright (C) llmopt authors
 *
 * The text of a whole answer, as a cascade judges it (llmopt_cascade.h):
 * where it is in an OpenAI or an Anthropic answer object.
 */


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

