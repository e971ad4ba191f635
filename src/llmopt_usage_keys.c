/*
 * Copyright (C) llmopt authors
 *
 * What the keys and values of each dialect's answers mean to the usage
 * reader's JSON scanner (llmopt_usage_json.c): the keys of each container
 * role, the finish reasons, and their lookups.
 */


#include <string.h>

#include "llmopt_usage_json.h"


typedef struct {
    uint8_t            meaning;
    uint8_t            dialects;
    uint8_t            len;
    const char        *key;
} llmopt_usage_key_t;


typedef struct {
    const llmopt_usage_key_t  *keys;
    unsigned                   n;
} llmopt_usage_role_t;


typedef struct {
    uint8_t            len;
    uint8_t            finish;
    const char        *reason;
} llmopt_usage_reason_t;


#define llmopt_usage_k(meaning, dialects, key)                               \
    { LLMOPT_USAGE_M_##meaning, LLMOPT_USAGE_##dialects, sizeof(key) - 1, key }

/*
 * The keys that mean something inside a container of each role.  A
 * Responses answer is a response object at the root (JSON) or under
 * "response" (the response.* events, usage in response.completed); the
 * text deltas are the root "delta" of the delta events.
 */

static const llmopt_usage_key_t  llmopt_usage_root_keys[] = {
    llmopt_usage_k(USAGE, ALL, "usage"),
    llmopt_usage_k(ERROR, ALL, "error"),
    llmopt_usage_k(CHOICES, OPENAI, "choices"),
    llmopt_usage_k(MESSAGE, ANTHROPIC, "message"),
    llmopt_usage_k(ADELTA, ANTHROPIC, "delta"),
    llmopt_usage_k(STOP_REASON, ANTHROPIC, "stop_reason"),
    llmopt_usage_k(TYPE, ANTHROPIC, "type"),
    llmopt_usage_k(TYPE, RESPONSES, "type"),
    llmopt_usage_k(RESPONSE, RESPONSES, "response"),
    llmopt_usage_k(CONTENT, RESPONSES, "delta"),
    llmopt_usage_k(STOP_REASON, RESPONSES, "status"),
    llmopt_usage_k(INCOMPLETE, RESPONSES, "incomplete_details")
};

static const llmopt_usage_key_t  llmopt_usage_usage_keys[] = {
    llmopt_usage_k(INPUT, OPENAI, "prompt_tokens"),
    llmopt_usage_k(OUTPUT, OPENAI, "completion_tokens"),
    llmopt_usage_k(DETAILS, OPENAI, "prompt_tokens_details"),
    llmopt_usage_k(INPUT, ANTHROPIC, "input_tokens"),
    llmopt_usage_k(OUTPUT, ANTHROPIC, "output_tokens"),
    llmopt_usage_k(CACHED, ANTHROPIC, "cache_read_input_tokens"),
    llmopt_usage_k(CACHE_WRITE, ANTHROPIC, "cache_creation_input_tokens"),
    llmopt_usage_k(INPUT, RESPONSES, "input_tokens"),
    llmopt_usage_k(OUTPUT, RESPONSES, "output_tokens"),
    llmopt_usage_k(DETAILS, RESPONSES, "input_tokens_details")
};

static const llmopt_usage_key_t  llmopt_usage_details_keys[] = {
    llmopt_usage_k(CACHED, OPENAI, "cached_tokens"),
    llmopt_usage_k(CACHED, RESPONSES, "cached_tokens")
};

static const llmopt_usage_key_t  llmopt_usage_response_keys[] = {
    llmopt_usage_k(USAGE, RESPONSES, "usage"),
    llmopt_usage_k(ERROR, RESPONSES, "error"),
    llmopt_usage_k(STOP_REASON, RESPONSES, "status"),
    llmopt_usage_k(INCOMPLETE, RESPONSES, "incomplete_details")
};

static const llmopt_usage_key_t  llmopt_usage_incomplete_keys[] = {
    llmopt_usage_k(STOP_REASON, RESPONSES, "reason")
};

static const llmopt_usage_key_t  llmopt_usage_choice_keys[] = {
    llmopt_usage_k(INDEX, OPENAI, "index"),
    llmopt_usage_k(FINISH, OPENAI, "finish_reason"),
    llmopt_usage_k(DELTA, OPENAI, "delta")
};

static const llmopt_usage_key_t  llmopt_usage_choice_other_keys[] = {
    llmopt_usage_k(DELTA, OPENAI, "delta")
};

static const llmopt_usage_key_t  llmopt_usage_delta_keys[] = {
    llmopt_usage_k(CONTENT, OPENAI, "content"),
    llmopt_usage_k(CONTENT, OPENAI, "refusal"),
    llmopt_usage_k(CONTENT, OPENAI, "reasoning_content"),
    llmopt_usage_k(CONTENT, OPENAI, "reasoning"),
    llmopt_usage_k(TOOL_CALLS, OPENAI, "tool_calls")
};

static const llmopt_usage_key_t  llmopt_usage_message_keys[] = {
    llmopt_usage_k(USAGE, ANTHROPIC, "usage"),
    llmopt_usage_k(STOP_REASON, ANTHROPIC, "stop_reason")
};

static const llmopt_usage_key_t  llmopt_usage_adelta_keys[] = {
    llmopt_usage_k(STOP_REASON, ANTHROPIC, "stop_reason"),
    llmopt_usage_k(CONTENT, ANTHROPIC, "text"),
    llmopt_usage_k(CONTENT, ANTHROPIC, "partial_json"),
    llmopt_usage_k(CONTENT, ANTHROPIC, "thinking")
};

#define llmopt_usage_role(role, keys)                                        \
    [LLMOPT_USAGE_M_##role] = { keys, sizeof(keys) / sizeof(keys[0]) }

static const llmopt_usage_role_t  llmopt_usage_roles[LLMOPT_USAGE_M_N] = {
    llmopt_usage_role(ROOT, llmopt_usage_root_keys),
    llmopt_usage_role(USAGE, llmopt_usage_usage_keys),
    llmopt_usage_role(DETAILS, llmopt_usage_details_keys),
    llmopt_usage_role(CHOICE, llmopt_usage_choice_keys),
    llmopt_usage_role(CHOICE_OTHER, llmopt_usage_choice_other_keys),
    llmopt_usage_role(DELTA, llmopt_usage_delta_keys),
    llmopt_usage_role(MESSAGE, llmopt_usage_message_keys),
    llmopt_usage_role(ADELTA, llmopt_usage_adelta_keys),
    llmopt_usage_role(RESPONSE, llmopt_usage_response_keys),
    llmopt_usage_role(INCOMPLETE, llmopt_usage_incomplete_keys)
};


#define llmopt_usage_r(reason, finish)                                       \
    { sizeof(reason) - 1, LLMOPT_FINISH_##finish, reason }

static const llmopt_usage_reason_t  llmopt_usage_reasons[] = {
    llmopt_usage_r("stop", STOP),
    llmopt_usage_r("end_turn", STOP),
    llmopt_usage_r("stop_sequence", STOP),
    llmopt_usage_r("length", LENGTH),
    llmopt_usage_r("max_tokens", LENGTH),
    llmopt_usage_r("model_context_window_exceeded", LENGTH),
    llmopt_usage_r("tool_calls", TOOL),
    llmopt_usage_r("function_call", TOOL),
    llmopt_usage_r("tool_use", TOOL),

    /* a Responses status; why it is incomplete says more */
    llmopt_usage_r("completed", STOP),
    llmopt_usage_r("in_progress", NONE),
    llmopt_usage_r("queued", NONE),
    llmopt_usage_r("incomplete", NONE),
    llmopt_usage_r("max_output_tokens", LENGTH)
};


unsigned
llmopt_usage_key(llmopt_usage_t *u, unsigned role)
{
    unsigned                    i, dialect;
    const llmopt_usage_key_t   *k;
    const llmopt_usage_role_t  *r;
    llmopt_usage_scan_t        *s;

    s = &u->scan;

    if (s->capture_bad || role >= LLMOPT_USAGE_M_N) {
        return LLMOPT_USAGE_M_NONE;
    }

    dialect = (u->dialect == LLMOPT_DIALECT_ANTHROPIC)
              ? LLMOPT_USAGE_ANTHROPIC
              : (u->dialect == LLMOPT_DIALECT_RESPONSES)
                ? LLMOPT_USAGE_RESPONSES : LLMOPT_USAGE_OPENAI;

    r = &llmopt_usage_roles[role];

    for (i = 0; i < r->n; i++) {
        k = &r->keys[i];

        if (!(k->dialects & dialect)
            || !llmopt_usage_captured(s, k->key, k->len))
        {
            continue;
        }

        switch (k->meaning) {

        case LLMOPT_USAGE_M_CONTENT:
        case LLMOPT_USAGE_M_TOOL_CALLS:
            /* a stream's deltas: the first one, and how much came */
            if (!u->sse) {
                return LLMOPT_USAGE_M_NONE;
            }
            break;

        case LLMOPT_USAGE_M_CHOICE_OTHER:
        case LLMOPT_USAGE_M_DELTA:
            if (!u->sse) {
                return LLMOPT_USAGE_M_NONE;
            }
            break;
        }

        return k->meaning;
    }

    return LLMOPT_USAGE_M_NONE;
}


int
llmopt_usage_captured(llmopt_usage_scan_t *s, const char *str, size_t len)
{
    return !s->capture_bad && s->capture_len == len
           && memcmp(s->capture, str, len) == 0;
}


llmopt_finish_e
llmopt_usage_reason(llmopt_usage_scan_t *s)
{
    unsigned                      i;
    const llmopt_usage_reason_t  *r;

    for (i = 0;
         i < sizeof(llmopt_usage_reasons) / sizeof(llmopt_usage_reasons[0]);
         i++)
    {
        r = &llmopt_usage_reasons[i];

        if (llmopt_usage_captured(s, r->reason, r->len)) {
            return (llmopt_finish_e) r->finish;
        }
    }

    return LLMOPT_FINISH_OTHER;
}
