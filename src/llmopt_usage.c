/*
 * Copyright (C) llmopt authors
 *
 * The usage of an upstream answer (llmopt_usage.h): the public calls and
 * the event stream, read line by line and event by event, whose data
 * lines go through the JSON scanner (llmopt_usage_json.c); the usage
 * chunk held back and dropped; the estimate when no usage came.
 */


#include <string.h>

#include "llmopt_usage.h"
#include "llmopt_usage_json.h"


/* event stream line states */
#define LLMOPT_USAGE_L_START          0   /* at the start of a line */
#define LLMOPT_USAGE_L_FIELD          1   /* in a field name */
#define LLMOPT_USAGE_L_DATA_SPACE     2   /* right after "data:" */
#define LLMOPT_USAGE_L_DATA           3   /* in the value of a data line */
#define LLMOPT_USAGE_L_IGNORE         4   /* in a line of no interest */
#define LLMOPT_USAGE_L_CR             5   /* after a line's CR */
#define LLMOPT_USAGE_L_BLANK_CR       6   /* after the CR of a blank line */


static void llmopt_usage_begin(llmopt_usage_t *u, uint64_t pos);
static void llmopt_usage_line_end(llmopt_usage_t *u, unsigned char c);
static int llmopt_usage_dispatch(llmopt_usage_t *u);


void
llmopt_usage_init(llmopt_usage_t *u, llmopt_dialect_e dialect, int sse,
    int strip_usage_chunk)
{
    memset(u, 0, sizeof(llmopt_usage_t));

    u->dialect = dialect;
    u->sse = (sse != 0);
    u->strip = (sse && strip_usage_chunk
                && dialect == LLMOPT_DIALECT_OPENAI);
    u->finish = LLMOPT_FINISH_NONE;
    u->first_content_offset = -1;

    llmopt_usage_reset(&u->scan);
}


/*
 * The event stream is read line by line (CR, LF or CRLF ends a line; a
 * blank line ends an event); the values of its data lines, joined by LF,
 * go through the JSON scanner, reset for each event.  An event is a
 * candidate for removal from its first byte while stripping; it stops
 * being one as soon as something shows it is not the usage chunk, or when
 * it grows beyond LLMOPT_USAGE_HOLD_MAX bytes.
 */

int
llmopt_usage_feed(llmopt_usage_t *u, const unsigned char *p, size_t len,
    llmopt_usage_out_t *out)
{
    size_t                i, j, limit, held;
    uint64_t              pos, end;
    unsigned char         c;
    const unsigned char  *eol;
    llmopt_usage_scan_t  *s;

    s = &u->scan;
    held = s->held;

    if (u->finished || !u->sse) {
        if (!u->finished) {
            llmopt_usage_json(u, p, len, s->offset);
            s->offset += len;
        }

        out->consumed = len;
        out->pass = len;
        out->drop = 0;
        out->hold = 0;
        return LLMOPT_OK;
    }

    i = 0;

    while (i < len) {
        pos = s->offset + i;
        c = p[i];

        if (s->candidate && pos - s->event_start >= LLMOPT_USAGE_HOLD_MAX) {
            s->candidate = 0;
        }

        switch (s->line) {

        case LLMOPT_USAGE_L_CR:
            s->line = LLMOPT_USAGE_L_START;
            if (c == '\n') {
                i++;
            }
            break;

        case LLMOPT_USAGE_L_BLANK_CR:
            if (c == '\n') {
                i++;
            }

            s->line = LLMOPT_USAGE_L_START;

            if (llmopt_usage_dispatch(u)) {
                goto drop;
            }

            break;

        case LLMOPT_USAGE_L_START:
            if (c == '\n' || c == '\r') {
                i++;

                if (!s->event) {
                    s->line = (c == '\r') ? LLMOPT_USAGE_L_CR
                                          : LLMOPT_USAGE_L_START;
                    break;
                }

                if (c == '\r') {
                    s->line = LLMOPT_USAGE_L_BLANK_CR;
                    break;
                }

                if (llmopt_usage_dispatch(u)) {
                    goto drop;
                }

                break;
            }

            if (!s->event) {
                llmopt_usage_begin(u, pos);
            }

            if (c == ':') {
                /* a comment */
                if (s->first_line) {
                    s->candidate = 0;
                }

                s->line = LLMOPT_USAGE_L_IGNORE;
                i++;
                break;
            }

            s->name_len = 0;
            s->line = LLMOPT_USAGE_L_FIELD;
            break;

        case LLMOPT_USAGE_L_FIELD:
            i++;

            if (c == ':') {
                if (s->name_len == 4 && memcmp(s->name, "data", 4) == 0) {
                    if (s->data_lines++ > 0) {
                        llmopt_usage_json(u, (const unsigned char *) "\n", 1,
                                          pos);
                    }

                    s->line = LLMOPT_USAGE_L_DATA_SPACE;

                } else {
                    if (s->first_line) {
                        s->candidate = 0;
                    }

                    s->line = LLMOPT_USAGE_L_IGNORE;
                }

                break;
            }

            if (c == '\n' || c == '\r') {
                /* a field without a value */
                if (s->first_line) {
                    s->candidate = 0;
                }

                llmopt_usage_line_end(u, c);
                break;
            }

            if (s->name_len < sizeof(s->name)) {
                s->name[s->name_len++] = c;
            }

            break;

        case LLMOPT_USAGE_L_DATA_SPACE:
            s->line = LLMOPT_USAGE_L_DATA;
            if (c == ' ') {
                i++;
            }
            break;

        default: /* LLMOPT_USAGE_L_DATA, LLMOPT_USAGE_L_IGNORE */
            limit = len;

            if (s->candidate
                && limit - i > LLMOPT_USAGE_HOLD_MAX - (pos - s->event_start))
            {
                limit = i + (LLMOPT_USAGE_HOLD_MAX - (pos - s->event_start));
            }

            eol = memchr(p + i, '\n', limit - i);
            j = (eol != NULL) ? (size_t) (eol - p) : limit;

            eol = memchr(p + i, '\r', j - i);
            if (eol != NULL) {
                j = eol - p;
            }

            if (s->line == LLMOPT_USAGE_L_DATA && j > i) {
                llmopt_usage_json(u, p + i, j - i, pos);
            }

            i = j;

            if (i < limit) {
                llmopt_usage_line_end(u, p[i]);
                i++;
            }

            break;
        }
    }

    s->offset += len;

    out->consumed = len;
    out->hold = (s->event && s->candidate)
                ? (size_t) (s->offset - s->event_start) : 0;
    out->drop = 0;
    out->pass = held + len - out->hold;

    s->held = out->hold;

    return LLMOPT_OK;

drop:

    end = s->offset + i;
    s->offset = end;

    out->consumed = i;
    out->drop = (size_t) (end - s->event_start);
    out->hold = 0;
    out->pass = held + i - out->drop;

    s->held = 0;

    return LLMOPT_OK;
}


int
llmopt_usage_finish(llmopt_usage_t *u, llmopt_usage_out_t *out)
{
    size_t                held, drop;
    llmopt_usage_scan_t  *s;

    s = &u->scan;
    held = s->held;
    drop = 0;

    if (!u->finished) {
        u->finished = 1;

        if (!u->sse) {
            if (s->started && s->state != LLMOPT_USAGE_J_DONE
                && s->state != LLMOPT_USAGE_J_ERROR)
            {
                llmopt_usage_fail(u);
            }

        } else if (s->line == LLMOPT_USAGE_L_BLANK_CR) {
            /* the last event ended with a blank line "\r" */
            s->line = LLMOPT_USAGE_L_START;

            if (llmopt_usage_dispatch(u)) {
                drop = (size_t) (s->offset - s->event_start);
            }

        } else if (s->event) {
            /* an unterminated event: its values count, it is never dropped */
            s->candidate = 0;
            (void) llmopt_usage_dispatch(u);
        }
    }

    s->held = 0;

    if (out != NULL) {
        out->consumed = 0;
        out->pass = held - drop;
        out->drop = drop;
        out->hold = 0;
    }

    return u->seen_usage ? LLMOPT_OK : LLMOPT_DECLINED;
}


int
llmopt_usage_final(const llmopt_usage_t *u)
{
    if (!u->seen_usage) {
        return 0;
    }

    /*
     * OpenAI reports usage once, at the end (chat completions in the
     * usage chunk, the Responses API in response.completed); Anthropic's
     * message_start has the input and an output of a token or two, its
     * message_delta the output: final only once the stream is over.
     */
    return u->complete || u->dialect != LLMOPT_DIALECT_ANTHROPIC || !u->sse;
}


void
llmopt_usage_estimate(const llmopt_usage_t *u, uint64_t input_estimate,
    llmopt_usage_estimate_t *est)
{
    uint64_t  out;

    est->input_tokens = input_estimate;

    if (u == NULL) {
        /* no answer came: the prompt alone */
        est->output_tokens = 0;
        return;
    }

    if (u->sse) {
        out = (u->content_bytes + LLMOPT_USAGE_BYTES_PER_TOKEN - 1)
              / LLMOPT_USAGE_BYTES_PER_TOKEN;
        est->output_tokens = out > u->content_parts ? out : u->content_parts;

    } else {
        /* a JSON answer cut short: its bytes so far, framing and all */
        est->output_tokens = (u->scan.offset + LLMOPT_USAGE_BYTES_PER_TOKEN
                              - 1) / LLMOPT_USAGE_BYTES_PER_TOKEN;
    }

    if (u->seen_usage && u->input_tokens > 0) {
        /* a stream's input came before its end (Anthropic message_start) */
        est->input_tokens = (uint64_t) u->input_tokens;
    }

    if (u->seen_usage && (uint64_t) u->output_tokens > est->output_tokens) {
        est->output_tokens = (uint64_t) u->output_tokens;
    }
}


const char *
llmopt_finish_name(llmopt_finish_e finish)
{
    switch (finish) {
    case LLMOPT_FINISH_STOP:
        return "stop";
    case LLMOPT_FINISH_LENGTH:
        return "length";
    case LLMOPT_FINISH_TOOL:
        return "tool";
    case LLMOPT_FINISH_OTHER:
        return "other";
    default:
        return "none";
    }
}


static void
llmopt_usage_begin(llmopt_usage_t *u, uint64_t pos)
{
    llmopt_usage_scan_t  *s;

    s = &u->scan;

    s->event = 1;
    s->candidate = u->strip;
    s->first_line = 1;
    s->data_lines = 0;
    s->event_start = pos;

    llmopt_usage_reset(s);
}


static void
llmopt_usage_line_end(llmopt_usage_t *u, unsigned char c)
{
    llmopt_usage_scan_t  *s;

    s = &u->scan;

    if (s->first_line) {
        /* the usage chunk starts with a data line holding "{" */
        if (!s->started) {
            s->candidate = 0;
        }

        s->first_line = 0;
    }

    s->line = (c == '\r') ? LLMOPT_USAGE_L_CR : LLMOPT_USAGE_L_START;
}


/* Ends an event; returns 1 if it is the usage chunk to drop. */

static int
llmopt_usage_dispatch(llmopt_usage_t *u)
{
    int                   valid, candidate;
    llmopt_usage_scan_t  *s;

    s = &u->scan;

    candidate = s->candidate;
    s->event = 0;
    s->candidate = 0;

    if (s->data_lines == 0) {
        return 0;
    }

    valid = 0;

    if (s->state == LLMOPT_USAGE_J_DONE) {
        if (s->done_marker) {
            u->complete = 1;

        } else {
            valid = 1;
            llmopt_usage_commit(u);
        }

    } else if (s->started && s->state != LLMOPT_USAGE_J_ERROR) {
        /* truncated */
        llmopt_usage_fail(u);
    }

    if (candidate && valid && s->usage_object && s->choices_empty) {
        u->dropped++;
        return 1;
    }

    return 0;
}
