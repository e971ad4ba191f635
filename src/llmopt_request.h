/*
 * Copyright (C) llmopt authors
 *
 * Parsing and validating a chat request body (OpenAI chat completions or
 * Anthropic messages) with jsmn (llmopt_request.c); the scan of its
 * prompt is llmopt_request_scan.h, rewriting fields of its root object
 * llmopt_rewrite.h.
 */

#ifndef _LLMOPT_REQUEST_H_INCLUDED_
#define _LLMOPT_REQUEST_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_json.h"


typedef enum {
    LLMOPT_DIALECT_OPENAI = 0,
    LLMOPT_DIALECT_ANTHROPIC,
    LLMOPT_DIALECT_RESPONSES            /* OpenAI's /v1/responses */
} llmopt_dialect_e;


/* [start, end) byte offsets into the body; start == end when absent. */

typedef struct {
    size_t  start;
    size_t  end;
} llmopt_span_t;


#define LLMOPT_REQUEST_MAX_SET        16


typedef struct {
    llmopt_dialect_e     dialect;
    const unsigned char *body;
    size_t               len;

    const llmopt_json_tok_t *toks;       /* caller's token array */
    unsigned             ntoks;          /* tokens used */

    /*
     * Sizes are raw JSON bytes (escapes not decoded).  text_bytes: message
     * contents (strings and the "text" of content blocks), the Anthropic
     * top-level "system", and the JSON of a non-empty "tools" array.
     * system_bytes: OpenAI "system"/"developer" messages, or Anthropic's
     * top-level "system".  A repeated root member counts once, the last.
     */
    llmopt_span_t        model;          /* value of "model", with quotes */
    unsigned             n_messages;
    size_t               text_bytes;
    size_t               system_bytes;
    int64_t              max_tokens;     /* -1 when absent or null;
                                            max_completion_tokens wins */

    unsigned             stream:1;
    unsigned             has_code:1;
    unsigned             has_tools:1;
    unsigned             json_format:1;
    unsigned             has_stream_options:1;
    unsigned             include_usage:1;

    unsigned             tokens_needed;  /* set with LLMOPT_AGAIN */

    /*
     * The prompt: the longest text of the last "user" message that has
     * text, as raw JSON string bytes (escapes not decoded), no quotes.
     */
    llmopt_span_t        prompt;

    /*
     * The system prompt: the longest text of the "system" and "developer"
     * messages (OpenAI) or of the top-level "system" (Anthropic), raw
     * JSON string bytes like the prompt's.
     */
    llmopt_span_t        system;
} llmopt_request_t;


/*
 * Parses and validates body as a request of the given dialect, using the
 * caller's token array toks[0 .. ntoks - 1].  body and toks must outlive
 * req: req points into both.  err may be NULL.  Optional members that are
 * null count as absent.  The checks and messages are listed in
 * docs/FEATURES.md ("Request validation").
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
 * Finds member key of the root object (escapes in the body's keys are
 * decoded for the comparison); fills *value with the raw JSON span of its
 * value, the last one if the key repeats, strings with their quotes.
 * Returns LLMOPT_OK, or LLMOPT_DECLINED (empty span) when absent.
 */
/*
 * The name of a dialect as the catalog's "api:", llmopt_route's
 * "dialect=" and $llmopt_dialect spell it: "openai", "anthropic",
 * "responses".
 */
const char *llmopt_dialect_name(llmopt_dialect_e dialect);

int llmopt_request_member(const llmopt_request_t *req, const char *key,
    size_t key_len, llmopt_span_t *value);


#endif /* _LLMOPT_REQUEST_H_INCLUDED_ */
