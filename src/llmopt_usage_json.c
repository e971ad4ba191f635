/*
 * Copyright (C) llmopt authors
 *
 * The JSON scanner of the usage reader (llmopt_usage_json.h): one JSON
 * document of an answer, fed in pieces, scanned for what its place in the
 * tree means (the token counts, the finish reason, the content of a
 * delta, an error), and what it found committed to the answer's totals.
 */


#include <string.h>

#include "llmopt_usage_json.h"


#define LLMOPT_USAGE_MAX_DIGITS       18

#define llmopt_usage_is_object(s, d)                                         \
    (((s)->kinds[((d) - 1) / 64] >> (((d) - 1) % 64)) & 1)


static void llmopt_usage_value(llmopt_usage_t *u, unsigned char c,
    uint64_t pos);
static unsigned llmopt_usage_child(llmopt_usage_t *u, unsigned char c,
    uint64_t pos);
static void llmopt_usage_open(llmopt_usage_t *u, int object,
    unsigned meaning);
static void llmopt_usage_close(llmopt_usage_t *u, unsigned char c);
static void llmopt_usage_string_end(llmopt_usage_t *u);
static void llmopt_usage_number_end(llmopt_usage_t *u);
static void llmopt_usage_content(llmopt_usage_t *u, uint64_t pos,
    size_t n);


static const char  *llmopt_usage_literals[] = {
    "true", "false", "null", "[DONE]"
};

#define LLMOPT_USAGE_LITERAL_DONE  3


void
llmopt_usage_reset(llmopt_usage_scan_t *s)
{
    s->state = LLMOPT_USAGE_J_VALUE;
    s->depth = 0;
    s->started = 0;
    s->usage_object = 0;
    s->choices_empty = 0;
    s->done_marker = 0;
    s->error_counted = 0;
    s->staged = 0;
    s->finish = LLMOPT_FINISH_NONE;
    s->choice_finish = LLMOPT_FINISH_NONE;
    s->choice_index = -1;
    s->stream_end = 0;
    s->error = 0;
}


void
llmopt_usage_commit(llmopt_usage_t *u)
{
    llmopt_usage_scan_t  *s;

    s = &u->scan;

    if (s->staged != 0) {
        u->seen_usage = 1;

        if (s->staged & (1 << LLMOPT_USAGE_M_OUTPUT)) {
            u->output_tokens = s->fields[LLMOPT_USAGE_M_OUTPUT];
        }

        if (s->staged & (1 << LLMOPT_USAGE_M_CACHED)) {
            u->cached_tokens = s->fields[LLMOPT_USAGE_M_CACHED];
        }

        if (s->staged & (1 << LLMOPT_USAGE_M_CACHE_WRITE)) {
            s->cache_write = s->fields[LLMOPT_USAGE_M_CACHE_WRITE];
        }

        if (s->staged & (1 << LLMOPT_USAGE_M_INPUT)) {
            s->raw_input = s->fields[LLMOPT_USAGE_M_INPUT];
        }

        if (u->dialect == LLMOPT_DIALECT_ANTHROPIC) {
            /* input_tokens there leaves the cached tokens out */
            u->cache_write_tokens = s->cache_write;
            u->input_tokens = s->raw_input + s->cache_write
                              + u->cached_tokens;

        } else {
            u->input_tokens = s->raw_input;
        }
    }

    if (s->finish != LLMOPT_FINISH_NONE) {
        u->finish = s->finish;
    }

    if (s->stream_end) {
        u->complete = 1;
    }

    if (s->error) {
        u->upstream_error = 1;
    }
}


void
llmopt_usage_fail(llmopt_usage_t *u)
{
    llmopt_usage_scan_t  *s;

    s = &u->scan;

    s->state = LLMOPT_USAGE_J_ERROR;
    s->candidate = 0;

    if (!s->error_counted) {
        s->error_counted = 1;
        u->errors++;
    }
}


/*
 * Scans p[0 .. len - 1] of the current JSON document; pos is the stream
 * offset of p[0].  Bytes after an error or after the root are ignored
 * (the latter count as an error unless white space).
 */

void
llmopt_usage_json(llmopt_usage_t *u, const unsigned char *p, size_t len,
    uint64_t pos)
{
    size_t                i, run;
    unsigned char         c;
    const char           *literal;
    llmopt_usage_scan_t  *s;

    s = &u->scan;

    for (i = 0; i < len; /* void */) {

        c = p[i];

        switch (s->state) {

        case LLMOPT_USAGE_J_ERROR:
            return;

        case LLMOPT_USAGE_J_STRING:
            run = i;

            /* the bulk of an answer is text: a run at a time */

            i += llmopt_json_run(p + i, len - i, 0);

            if (i > run) {
                if (s->meaning == LLMOPT_USAGE_M_CONTENT) {
                    llmopt_usage_content(u, pos + run, i - run);
                }

                if (s->capturing) {
                    if (i - run > (size_t) (LLMOPT_USAGE_CAPTURE
                                            - s->capture_len))
                    {
                        s->capture_bad = 1;

                    } else {
                        memcpy(s->capture + s->capture_len, p + run, i - run);
                        s->capture_len += i - run;
                    }
                }

                if (i == len) {
                    return;
                }
            }

            c = p[i];
            i++;

            if (c == '"') {
                llmopt_usage_string_end(u);
                break;
            }

            if (c < 0x20) {
                llmopt_usage_fail(u);
                return;
            }

            /* a backslash */

            if (s->meaning == LLMOPT_USAGE_M_CONTENT) {
                /* an escape: "\n" or "\u00e9" is a character or so */
                llmopt_usage_content(u, pos + i - 1, 2);
            }

            s->capture_bad = 1;
            s->state = LLMOPT_USAGE_J_ESCAPE;
            break;

        case LLMOPT_USAGE_J_ESCAPE:
            i++;

            if (c == 'u') {
                s->literal_pos = 0;
                s->state = LLMOPT_USAGE_J_UNICODE;
                break;
            }

            if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
                llmopt_usage_fail(u);
                return;
            }

            s->state = LLMOPT_USAGE_J_STRING;
            break;

        case LLMOPT_USAGE_J_UNICODE:
            i++;

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                  || (c >= 'A' && c <= 'F')))
            {
                llmopt_usage_fail(u);
                return;
            }

            if (++s->literal_pos == 4) {
                s->state = LLMOPT_USAGE_J_STRING;
            }

            break;

        case LLMOPT_USAGE_J_NUMBER:
            /*
             * Not llmopt_json_number_len(): a number may be cut across
             * two buffers of the stream and this runs for every byte of
             * an answer, so the digits are read here, one state per
             * byte.  Only counts are wanted: a fraction, an exponent or a
             * sign makes the number unusable (number_bad), not an error.
             */

            if (c >= '0' && c <= '9') {
                i++;

                if (s->number_digits++ < LLMOPT_USAGE_MAX_DIGITS) {
                    s->number = s->number * 10 + (c - '0');

                } else {
                    s->number_bad = 1;
                }

                break;
            }

            if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                i++;
                s->number_bad = 1;
                break;
            }

            /* the byte after the number is looked at again */
            llmopt_usage_number_end(u);
            break;

        case LLMOPT_USAGE_J_LITERAL:
            i++;
            literal = llmopt_usage_literals[s->literal];

            if (c != (unsigned char) literal[s->literal_pos]) {
                llmopt_usage_fail(u);
                return;
            }

            if (literal[++s->literal_pos] != '\0') {
                break;
            }

            if (s->literal == LLMOPT_USAGE_LITERAL_DONE) {
                s->done_marker = 1;
                s->state = LLMOPT_USAGE_J_DONE;

            } else {
                s->state = LLMOPT_USAGE_J_NEXT;
            }

            break;

        default:
            i++;

            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                break;
            }

            switch (s->state) {

            case LLMOPT_USAGE_J_VALUE_OR_END:
                if (c == ']') {
                    llmopt_usage_close(u, c);
                    break;
                }

                /* fall through */

            case LLMOPT_USAGE_J_VALUE:
                llmopt_usage_value(u, c, pos + i - 1);
                break;

            case LLMOPT_USAGE_J_KEY_OR_END:
                if (c == '}') {
                    llmopt_usage_close(u, c);
                    break;
                }

                /* fall through */

            case LLMOPT_USAGE_J_KEY:
                if (c != '"') {
                    llmopt_usage_fail(u);
                    return;
                }

                s->state = LLMOPT_USAGE_J_STRING;
                s->is_key = 1;
                s->meaning = LLMOPT_USAGE_M_NONE;
                s->capture_len = 0;
                s->capture_bad = 0;
                s->capturing = (s->depth <= LLMOPT_USAGE_FRAMES
                                && s->frames[s->depth].role
                                   != LLMOPT_USAGE_M_NONE);

                if (s->depth <= LLMOPT_USAGE_FRAMES) {
                    s->frames[s->depth].key = LLMOPT_USAGE_M_NONE;
                }

                break;

            case LLMOPT_USAGE_J_COLON:
                if (c != ':') {
                    llmopt_usage_fail(u);
                    return;
                }

                s->state = LLMOPT_USAGE_J_VALUE;
                break;

            case LLMOPT_USAGE_J_NEXT:
                if (c == '}' || c == ']') {
                    llmopt_usage_close(u, c);
                    break;
                }

                if (c != ',') {
                    llmopt_usage_fail(u);
                    return;
                }

                if (llmopt_usage_is_object(s, s->depth)) {
                    s->state = LLMOPT_USAGE_J_KEY;

                } else {
                    s->state = LLMOPT_USAGE_J_VALUE;
                }

                break;

            default: /* LLMOPT_USAGE_J_DONE */
                llmopt_usage_fail(u);
                return;
            }

            if (s->state == LLMOPT_USAGE_J_ERROR) {
                return;
            }

            break;
        }
    }
}


/* A value starts with c at stream offset pos. */

static void
llmopt_usage_value(llmopt_usage_t *u, unsigned char c, uint64_t pos)
{
    unsigned              meaning;
    llmopt_usage_scan_t  *s;

    s = &u->scan;

    if (s->depth == 0) {
        s->started = 1;

        if (c == '{') {
            llmopt_usage_open(u, 1, LLMOPT_USAGE_M_ROOT);
            return;
        }

        s->candidate = 0;

        if (c == '[' && u->sse) {
            s->literal = LLMOPT_USAGE_LITERAL_DONE;
            s->literal_pos = 1;
            s->state = LLMOPT_USAGE_J_LITERAL;
            return;
        }

        llmopt_usage_fail(u);
        return;
    }

    meaning = llmopt_usage_child(u, c, pos);

    switch (c) {

    case '{':
    case '[':
        llmopt_usage_open(u, c == '{', meaning);
        return;

    case '"':
        s->state = LLMOPT_USAGE_J_STRING;
        s->is_key = 0;
        s->meaning = (uint8_t) meaning;
        s->capture_len = 0;
        s->capture_bad = 0;
        s->capturing = (meaning == LLMOPT_USAGE_M_FINISH
                        || meaning == LLMOPT_USAGE_M_STOP_REASON
                        || meaning == LLMOPT_USAGE_M_TYPE);
        return;

    case 't':
    case 'f':
    case 'n':
        s->literal = (c == 't') ? 0 : (c == 'f') ? 1 : 2;
        s->literal_pos = 1;
        s->state = LLMOPT_USAGE_J_LITERAL;
        return;

    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            s->state = LLMOPT_USAGE_J_NUMBER;
            s->meaning = (uint8_t) meaning;
            s->number_bad = (c == '-');
            s->number_digits = (c != '-');
            s->number = (c != '-') ? c - '0' : 0;
            return;
        }

        llmopt_usage_fail(u);
        return;
    }
}


/*
 * The meaning of a value starting with c inside the current container;
 * counts array elements and notes what tells an event is not the usage
 * chunk.
 */

static unsigned
llmopt_usage_child(llmopt_usage_t *u, unsigned char c, uint64_t pos)
{
    unsigned               meaning;
    llmopt_usage_scan_t   *s;
    llmopt_usage_frame_t  *f;

    s = &u->scan;

    if (s->depth > LLMOPT_USAGE_FRAMES) {
        return LLMOPT_USAGE_M_NONE;
    }

    f = &s->frames[s->depth];

    if (llmopt_usage_is_object(s, s->depth)) {
        meaning = f->key;

        if (f->role == LLMOPT_USAGE_M_ROOT) {
            if ((meaning == LLMOPT_USAGE_M_USAGE && c != '{')
                || (meaning == LLMOPT_USAGE_M_CHOICES && c != '['))
            {
                s->candidate = 0;
            }
        }

        return meaning;
    }

    meaning = LLMOPT_USAGE_M_NONE;

    switch (f->role) {

    case LLMOPT_USAGE_M_CHOICES:
        s->candidate = 0;
        meaning = (f->count == 0) ? LLMOPT_USAGE_M_CHOICE
                                  : LLMOPT_USAGE_M_CHOICE_OTHER;
        break;

    case LLMOPT_USAGE_M_TOOL_CALLS:
        /* a tool call's delta: one part of the answer */
        llmopt_usage_content(u, pos, 0);
        s->scan_part = 0;
        break;
    }

    if (f->count < 2) {
        f->count++;
    }

    return meaning;
}


static void
llmopt_usage_open(llmopt_usage_t *u, int object, unsigned meaning)
{
    unsigned               role, depth;
    llmopt_usage_scan_t   *s;
    llmopt_usage_frame_t  *f;

    s = &u->scan;

    if (s->depth >= LLMOPT_JSON_MAX_DEPTH) {
        llmopt_usage_fail(u);
        return;
    }

    depth = ++s->depth;

    if (object) {
        s->kinds[(depth - 1) / 64] |= 1ULL << ((depth - 1) % 64);

    } else {
        s->kinds[(depth - 1) / 64] &= ~(1ULL << ((depth - 1) % 64));
    }

    s->state = object ? LLMOPT_USAGE_J_KEY_OR_END
                      : LLMOPT_USAGE_J_VALUE_OR_END;

    if (depth > LLMOPT_USAGE_FRAMES) {
        return;
    }

    role = LLMOPT_USAGE_M_NONE;

    if (object) {
        switch (meaning) {

        case LLMOPT_USAGE_M_USAGE:
            if (depth == 2) {
                s->usage_object = 1;
            }

            role = meaning;
            break;

        case LLMOPT_USAGE_M_CHOICE:
            s->choice_finish = LLMOPT_FINISH_NONE;
            s->choice_index = -1;
            role = meaning;
            break;

        case LLMOPT_USAGE_M_ERROR:
            s->error = 1;
            break;

        case LLMOPT_USAGE_M_ROOT:
        case LLMOPT_USAGE_M_DETAILS:
        case LLMOPT_USAGE_M_CHOICE_OTHER:
        case LLMOPT_USAGE_M_DELTA:
        case LLMOPT_USAGE_M_MESSAGE:
        case LLMOPT_USAGE_M_ADELTA:
        case LLMOPT_USAGE_M_RESPONSE:
        case LLMOPT_USAGE_M_INCOMPLETE:
            role = meaning;
            break;
        }

    } else if (meaning == LLMOPT_USAGE_M_CHOICES
               || meaning == LLMOPT_USAGE_M_TOOL_CALLS)
    {
        role = meaning;
    }

    f = &s->frames[depth];
    f->role = (uint8_t) role;
    f->key = LLMOPT_USAGE_M_NONE;
    f->count = 0;
}


static void
llmopt_usage_close(llmopt_usage_t *u, unsigned char c)
{
    int                    object;
    unsigned               depth;
    llmopt_usage_scan_t   *s;
    llmopt_usage_frame_t  *f;

    s = &u->scan;
    depth = s->depth;
    object = (c == '}');

    if (llmopt_usage_is_object(s, depth) != (uint64_t) object) {
        llmopt_usage_fail(u);
        return;
    }

    if (depth <= LLMOPT_USAGE_FRAMES) {
        f = &s->frames[depth];

        if (f->role == LLMOPT_USAGE_M_CHOICES && f->count == 0) {
            s->choices_empty = 1;

        } else if (f->role == LLMOPT_USAGE_M_CHOICE
                   && s->choice_finish != LLMOPT_FINISH_NONE
                   && s->choice_index <= 0)
        {
            /* a stream's chunk may carry another choice first */
            s->finish = s->choice_finish;
        }
    }

    s->depth = --depth;

    if (depth > 0) {
        s->state = LLMOPT_USAGE_J_NEXT;
        return;
    }

    s->state = LLMOPT_USAGE_J_DONE;

    if (!u->sse) {
        u->complete = 1;
        llmopt_usage_commit(u);
    }
}


static void
llmopt_usage_string_end(llmopt_usage_t *u)
{
    llmopt_finish_e       finish;
    llmopt_usage_scan_t  *s;

    s = &u->scan;
    s->state = LLMOPT_USAGE_J_NEXT;
    s->scan_part = 0;

    if (s->is_key) {
        s->state = LLMOPT_USAGE_J_COLON;

        if (s->capturing) {
            s->frames[s->depth].key =
                (uint8_t) llmopt_usage_key(u, s->frames[s->depth].role);
        }

        return;
    }

    switch (s->meaning) {

    case LLMOPT_USAGE_M_FINISH:
        s->choice_finish = (uint8_t) llmopt_usage_reason(s);
        break;

    case LLMOPT_USAGE_M_STOP_REASON:
        /* a Responses status "incomplete" leaves the reason to its details */
        finish = llmopt_usage_reason(s);

        if (finish != LLMOPT_FINISH_NONE) {
            s->finish = (uint8_t) finish;
        }

        break;

    case LLMOPT_USAGE_M_TYPE:
        if (llmopt_usage_captured(s, "message_stop", 12)
            || llmopt_usage_captured(s, "response.completed", 18)
            || llmopt_usage_captured(s, "response.incomplete", 19)
            || llmopt_usage_captured(s, "response.failed", 15))
        {
            s->stream_end = 1;

        } else if (llmopt_usage_captured(s, "error", 5)) {
            s->error = 1;
        }

        break;
    }
}


static void
llmopt_usage_number_end(llmopt_usage_t *u)
{
    llmopt_usage_scan_t  *s;

    s = &u->scan;
    s->state = LLMOPT_USAGE_J_NEXT;

    if (s->meaning == LLMOPT_USAGE_M_INDEX) {
        s->choice_index = s->number_bad ? 1 : s->number;
        return;
    }

    if (s->meaning > LLMOPT_USAGE_M_CACHE_WRITE) {
        return;
    }

    if (s->number_bad) {
        /* not a count we can use: fractional, negative, too long */
        s->error_counted = 1;
        u->errors++;
        return;
    }

    s->fields[s->meaning] = s->number;
    s->staged |= 1u << s->meaning;
}


/*
 * n bytes of a delta's content at stream offset pos (n is 0 for a tool
 * call): the first content's offset, and what an estimate of the output
 * counts (llmopt_usage_estimate()).
 */

static void
llmopt_usage_content(llmopt_usage_t *u, uint64_t pos, size_t n)
{
    if (u->first_content_offset < 0) {
        u->first_content_offset = (int64_t) pos;
    }

    u->content_bytes += n;

    if (!u->scan.scan_part) {
        /* the first bytes of this string: one more part */
        u->content_parts++;
        u->scan.scan_part = 1;
    }
}
