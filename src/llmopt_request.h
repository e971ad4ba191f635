/*
 * Copyright (C) llmopt authors
 *
 * Parsing and validating a chat request body (OpenAI chat completions or
 * Anthropic messages) with jsmn, and rewriting fields of its root object
 * while leaving every other byte as it was.
 */

#ifndef _LLMOPT_REQUEST_H_INCLUDED_
#define _LLMOPT_REQUEST_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_json.h"


typedef enum {
    LLMOPT_DIALECT_OPENAI = 0,
    LLMOPT_DIALECT_ANTHROPIC
} llmopt_dialect_e;


/* [start, end) byte offsets into the body; start == end when absent. */

typedef struct {
    size_t  start;
    size_t  end;
} llmopt_span_t;


typedef struct {
    llmopt_dialect_e     dialect;
    const unsigned char *body;
    size_t               len;

    const llmopt_json_tok_t *toks;       /* caller's token array */
    unsigned             ntoks;          /* tokens used */

    llmopt_span_t        model;          /* value of "model", with quotes */
    unsigned             n_messages;
    size_t               text_bytes;     /* string content of the prompt */
    size_t               system_bytes;   /* system prompt(s) */
    int64_t              max_tokens;     /* -1 when absent */

    unsigned             stream:1;
    unsigned             has_code:1;
    unsigned             has_tools:1;
    unsigned             json_format:1;
    unsigned             has_stream_options:1;
    unsigned             include_usage:1;

    unsigned             tokens_needed;  /* set with LLMOPT_AGAIN */
} llmopt_request_t;


/*
 * Parses and validates body as a request of the given dialect, using the
 * caller's token array toks[0 .. ntoks - 1].
 *
 * Returns LLMOPT_OK; LLMOPT_AGAIN when ntoks is too small, with
 * req->tokens_needed set to the exact number needed (call again with that
 * many); LLMOPT_ERROR for bad input, with err->status (400), err->offset
 * (the byte where the problem is), err->type and a message fit to show the
 * client.  Nesting deeper than max_depth is an error.  Never allocates.
 */
int llmopt_request_parse(llmopt_request_t *req, llmopt_dialect_e dialect,
    const unsigned char *body, size_t len, llmopt_json_tok_t *toks,
    unsigned ntoks, unsigned max_depth, llmopt_err_t *err);

/*
 * Finds member key of the root object; fills its value span.  Returns
 * LLMOPT_OK or LLMOPT_DECLINED when absent (the last one if repeated).
 */
int llmopt_request_member(const llmopt_request_t *req, const char *key,
    size_t key_len, llmopt_span_t *value);

/*
 * Size of the body after setting each root member set[i].key to the raw
 * JSON set[i].json: an existing member's value is replaced (every
 * occurrence, if repeated), a missing one is appended to the root object.
 */
size_t llmopt_request_rewrite_size(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n);

/*
 * Writes the rewritten body into out (llmopt_request_rewrite_size() bytes)
 * and returns the bytes written.  Bytes outside the replaced values and the
 * appended members are copied unchanged.  n is at most 16.
 */
size_t llmopt_request_rewrite(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, unsigned char *out);


#endif /* _LLMOPT_REQUEST_H_INCLUDED_ */
