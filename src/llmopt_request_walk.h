/*
 * Copyright (C) llmopt authors
 *
 * The walk of a request body's parse (llmopt_request.c), shared with the
 * Responses API's input (llmopt_request_responses.c): the keys it knows,
 * its state, and the checks both use.  Inside the request parse only.
 */

#ifndef _LLMOPT_REQUEST_WALK_H_INCLUDED_
#define _LLMOPT_REQUEST_WALK_H_INCLUDED_


#include "llmopt_request.h"


typedef enum {
    LLMOPT_REQ_KEY_MODEL = 0,
    LLMOPT_REQ_KEY_MESSAGES,
    LLMOPT_REQ_KEY_STREAM,
    LLMOPT_REQ_KEY_MAX_TOKENS,
    LLMOPT_REQ_KEY_MAX_COMPLETION_TOKENS,
    LLMOPT_REQ_KEY_TEMPERATURE,
    LLMOPT_REQ_KEY_TOP_P,
    LLMOPT_REQ_KEY_TOOLS,
    LLMOPT_REQ_KEY_RESPONSE_FORMAT,
    LLMOPT_REQ_KEY_STREAM_OPTIONS,
    LLMOPT_REQ_KEY_SYSTEM,
    LLMOPT_REQ_KEY_INPUT,
    LLMOPT_REQ_KEY_INSTRUCTIONS,
    LLMOPT_REQ_KEY_MAX_OUTPUT_TOKENS,
    LLMOPT_REQ_KEY_TEXT_OPTIONS,
    LLMOPT_REQ_KEY_OUTPUT,
    LLMOPT_REQ_KEY_ROLE,
    LLMOPT_REQ_KEY_CONTENT,
    LLMOPT_REQ_KEY_TEXT
} llmopt_request_key_e;


typedef struct {
    const char            *name;
    size_t                 len;
    llmopt_request_key_e   id;
} llmopt_request_name_t;


/* State of one parse: where the pieces of text_bytes accumulate. */

typedef struct {
    llmopt_request_t          *req;
    const unsigned char       *body;
    const llmopt_json_tok_t   *toks;
    unsigned                   ntoks;
    llmopt_err_t              *err;

    size_t                     message_bytes;
    size_t                     system_message_bytes;
    size_t                     system_top_bytes;
    size_t                     tools_bytes;
    int64_t                    max_tokens;
    int64_t                    max_completion_tokens;
} llmopt_request_walk_t;


#define llmopt_request_name(s, id)  { s, sizeof(s) - 1, id }
#define llmopt_request_nelts(a)  (sizeof(a) / sizeof((a)[0]))

/* role, content and output: the keys of a message or an input item */
extern const llmopt_request_name_t  llmopt_request_message_names[3];


/* the id of the key token among names, -1 when none */
int llmopt_request_match(llmopt_request_walk_t *w, unsigned key,
    const llmopt_request_name_t *names, unsigned n);
/* the text of a string or of content blocks into *bytes and *longest */
int llmopt_request_text(llmopt_request_walk_t *w, unsigned value,
    const char *field, int index, size_t *bytes, llmopt_span_t *longest);
/* a message's text counted by its role (-1: none) */
void llmopt_request_role_text(llmopt_request_walk_t *w, int role,
    size_t bytes, const llmopt_span_t *longest);
/* absent or null, else of kind want; a 400 naming the field if not */
int llmopt_request_optional(llmopt_request_walk_t *w, unsigned value,
    const char *field, llmopt_json_kind_e want, const char *want_name);
/* a non-negative integer or null (*result -1) */
int llmopt_request_count(llmopt_request_walk_t *w, unsigned value,
    const char *field, int64_t *result);
/* "Invalid type for 'field': expected ..., but got ... instead." */
int llmopt_request_type_error(llmopt_request_walk_t *w, unsigned value,
    const char *field, const char *want_name);

/* a Responses request's "input" and "text" (llmopt_request_responses.c) */
int llmopt_request_input(llmopt_request_walk_t *w, unsigned value);
int llmopt_request_text_format(llmopt_request_walk_t *w, unsigned value);


#endif /* _LLMOPT_REQUEST_WALK_H_INCLUDED_ */
