/*
 * Copyright (C) llmopt authors
 *
 * A Responses API request's "input" (a string, or items: messages with or
 * without "type", function calls and their outputs) and "text" options,
 * read for the features as llmopt_request.c reads chat messages.
 */


#include <stdio.h>
#include <string.h>

#include "llmopt_request_walk.h"


static int llmopt_request_input_item(llmopt_request_walk_t *w,
    unsigned item, unsigned index);


/*
 * A Responses request's "input": a string (one user message) or an array
 * of items, messages (role and content, "type" optional) and the items
 * without a role (function_call_output's "output" counts as text).
 */

int
llmopt_request_input(llmopt_request_walk_t *w, unsigned value)
{
    size_t                    start, end;
    unsigned                  i, k, next;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[value];

    w->req->n_messages = 0;
    w->req->prompt.start = 0;
    w->req->prompt.end = 0;
    w->message_bytes = 0;
    w->system_message_bytes = 0;

    if (tok->type == JSMN_STRING) {
        w->req->n_messages = 1;
        return llmopt_request_text(w, value, "input", -1, &w->message_bytes,
                                   &w->req->prompt);
    }

    if (tok->type != JSMN_ARRAY) {
        return llmopt_request_type_error(w, value, "input",
                                         "a string or an array");
    }

    if (tok->size == 0) {
        llmopt_json_value_span(tok, &start, &end);
        llmopt_err_set(w->err, 400, start,
                       "Invalid 'input': empty array. Expected an array "
                       "with minimum length 1, but got an empty array "
                       "instead.");
        w->err->type = "invalid_request_error";
        return LLMOPT_ERROR;
    }

    i = value + 1;

    for (k = 0; k < (unsigned) tok->size; k++) {
        next = llmopt_json_skip(w->toks, w->ntoks, i);

        if (llmopt_request_input_item(w, i, k) != LLMOPT_OK) {
            return LLMOPT_ERROR;
        }

        i = next;
    }

    w->req->n_messages = (unsigned) tok->size;

    return LLMOPT_OK;
}


static int
llmopt_request_input_item(llmopt_request_walk_t *w, unsigned item,
    unsigned index)
{
    int                       role, content;
    char                      field[48];
    size_t                    bytes;
    unsigned                  i, k;
    llmopt_span_t             longest;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[item];

    if (tok->type != JSMN_OBJECT) {
        (void) snprintf(field, sizeof(field), "input[%u]", index);
        return llmopt_request_type_error(w, item, field, "an object");
    }

    role = -1;
    content = -1;
    i = item + 1;

    for (k = 0; k < (unsigned) tok->size; k++) {
        switch (llmopt_request_match(w, i, llmopt_request_message_names,
                    llmopt_request_nelts(llmopt_request_message_names)))
        {
        case LLMOPT_REQ_KEY_ROLE:
            role = (int) i + 1;
            break;
        case LLMOPT_REQ_KEY_CONTENT:
        case LLMOPT_REQ_KEY_OUTPUT:
            content = (int) i + 1;
            break;
        default:
            break;
        }

        i = llmopt_json_skip(w->toks, w->ntoks, i + 1);
    }

    if (role >= 0 && w->toks[role].type != JSMN_STRING) {
        (void) snprintf(field, sizeof(field), "input[%u].role", index);
        return llmopt_request_type_error(w, (unsigned) role, field,
                                         "a string");
    }

    if (content < 0 || (w->toks[content].type != JSMN_STRING
                        && w->toks[content].type != JSMN_ARRAY))
    {
        /* a function call, a reasoning item: no text of the prompt */
        return LLMOPT_OK;
    }

    bytes = 0;
    longest.start = 0;
    longest.end = 0;
    (void) snprintf(field, sizeof(field), "input[%u].content", index);

    if (llmopt_request_text(w, (unsigned) content, field, (int) index,
                            &bytes, &longest)
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    llmopt_request_role_text(w, role, bytes, &longest);

    return LLMOPT_OK;
}


/* text.format of a Responses request: json_schema and json_object */

int
llmopt_request_text_format(llmopt_request_walk_t *w, unsigned value)
{
    int  format, type;

    w->req->json_format = 0;

    if (llmopt_request_optional(w, value, "text", LLMOPT_JSON_OBJECT,
                                "an object")
        != LLMOPT_OK)
    {
        return LLMOPT_ERROR;
    }

    format = (w->toks[value].type == JSMN_OBJECT)
             ? llmopt_json_member(w->body, w->toks, w->ntoks, value,
                                  "format", 6)
             : -1;
    type = (format > 0 && w->toks[format].type == JSMN_OBJECT)
           ? llmopt_json_member(w->body, w->toks, w->ntoks,
                                (unsigned) format, "type", 4)
           : -1;

    w->req->json_format = (type > 0 && w->toks[type].type == JSMN_STRING
                           && (llmopt_json_str_eq(w->body, &w->toks[type],
                                                  "json_object", 11)
                               || llmopt_json_str_eq(w->body,
                                                     &w->toks[type],
                                                     "json_schema", 11)));

    return LLMOPT_OK;
}
