// Drives one official SDK through the cases of translation (t/200-translate.t)
// against a base URL, with X-Mock-Smart so that the mock answers like a
// model (tool calls, JSON, stop sequences, what it saw):
//
//   node translate.mjs openai|anthropic BASE_URL
//
// Prints one JSON line on stdout, one member per case:
//   plain, stream, stream_usage, system, image, stop, json, tool,
//   tool_result, tool_stream: what the SDK parsed (text, reason, usage,
//   tool calls, events)
//   error_400, error_429, error_500, error_529: {name, status, type}
//   bad_truncate, bad_unknown, bad_badjson: what a broken upstream stream
//   gave: {name, message} of the error the SDK raised, or the text
// and exits 1 when the SDK failed where it must not (stderr says why).

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const sdk = process.argv[2];
const base = process.argv[3];
const smart = { 'X-Mock-Smart': '1' };
const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAA'
            + 'DUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==';

function errorOf(e) {
    return { name: e.constructor.name, status: e.status ?? null,
             type: e.error?.error?.type ?? e.error?.type ?? null,
             message: String(e.message).slice(0, 300) };
}

async function openai() {
    const client = new OpenAI({ baseURL: `${base}/v1`,
                                apiKey: 'sk-client-side', maxRetries: 0,
                                timeout: 20000 });
    const chat = (body, headers) => client.chat.completions.create(
        { model: 'auto', ...body }, { headers: { ...smart, ...headers } });
    const user = (content) => [{ role: 'user', content }];
    const out = {};

    const answer = (c) => ({
        id: c.id, model: c.model, object: c.object,
        text: c.choices[0].message.content,
        finish_reason: c.choices[0].finish_reason,
        tool_calls: c.choices[0].message.tool_calls ?? null,
        usage: c.usage ?? null,
    });

    const streamed = async (s) => {
        const r = { text: '', finish_reason: null, usage: null, chunks: 0,
                    tool_calls: {} };
        for await (const chunk of s) {
            r.chunks++;
            r.model = chunk.model;
            r.id = chunk.id;
            if (chunk.usage) {
                r.usage = chunk.usage;
            }
            for (const c of chunk.choices) {
                r.text += c.delta.content ?? '';
                r.finish_reason = c.finish_reason ?? r.finish_reason;
                for (const t of c.delta.tool_calls ?? []) {
                    const k = r.tool_calls[t.index]
                              ?? (r.tool_calls[t.index] = { arguments: '' });
                    k.id = t.id ?? k.id;
                    k.name = t.function?.name ?? k.name;
                    k.arguments += t.function?.arguments ?? '';
                }
            }
        }
        return r;
    };

    out.plain = answer(await chat({ messages: user('Hello there.') }));
    out.stream = await streamed(await chat({ messages: user('Hello.'),
                                             stream: true }));
    out.stream_usage = await streamed(await chat({
        messages: user('Hello.'), stream: true,
        stream_options: { include_usage: true } }));
    out.system = answer(await chat({ messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello.' }] }));
    out.image = answer(await chat({ messages: user([
        { type: 'text', text: 'What is this?' },
        { type: 'image_url',
          image_url: { url: `data:image/png;base64,${png}` } }]) }));
    out.stop = answer(await chat({ messages: user('Count.'),
                                   stop: ['END'], max_tokens: 50,
                                   temperature: 0.5 }));
    out.json = answer(await chat({
        messages: user('Answer in JSON.'),
        response_format: { type: 'json_schema', json_schema: {
            name: 'answer', schema: { type: 'object', properties: {
                answer: { type: 'string' } } } } } }));

    const tools = [{ type: 'function', function: {
        name: 'get_weather', description: 'The weather of a city',
        parameters: { type: 'object',
                      properties: { q: { type: 'string' } } } } }];
    const ask = user('Weather in Paris?');
    const call = await chat({ messages: ask, tools });
    out.tool = answer(call);
    const msg = call.choices[0].message;
    out.tool_result = answer(await chat({ tools, messages: [
        ...ask,
        { role: 'assistant', content: msg.content,
          tool_calls: msg.tool_calls },
        { role: 'tool', tool_call_id: msg.tool_calls[0].id,
          content: 'sunny' }] }));
    out.tool_stream = await streamed(await chat({ messages: ask, tools,
                                                  stream: true }));

    for (const status of [400, 429, 500, 529]) {
        try {
            await chat({ messages: user('Hello.') },
                       { 'X-Mock-Status': String(status) });
            out[`error_${status}`] = { name: 'none' };
        } catch (e) {
            out[`error_${status}`] = errorOf(e);
        }
    }

    for (const bad of ['truncate', 'unknown', 'badjson']) {
        try {
            const r = await streamed(await chat(
                { messages: user('Hello.'), stream: true },
                { 'X-Mock-Bad': bad }));
            out[`bad_${bad}`] = { name: 'none', text: r.text };
        } catch (e) {
            out[`bad_${bad}`] = errorOf(e);
        }
    }

    return out;
}

async function anthropic() {
    const client = new Anthropic({ baseURL: base,
                                   apiKey: 'sk-ant-client-side',
                                   maxRetries: 0, timeout: 20000 });
    const create = (body, headers) => client.messages.create(
        { model: 'auto', max_tokens: 256, ...body },
        { headers: { ...smart, ...headers } });
    const user = (content) => [{ role: 'user', content }];
    const out = {};

    const answer = (m) => ({
        id: m.id, model: m.model, type: m.type, role: m.role,
        text: m.content.map((b) => (b.type === 'text' ? b.text : ''))
                       .join(''),
        blocks: m.content.map((b) => b.type),
        tool_use: m.content.filter((b) => b.type === 'tool_use'),
        stop_reason: m.stop_reason, stop_sequence: m.stop_sequence,
        usage: m.usage,
    });

    const streamed = async (s) => {
        const r = { text: '', events: [], stop_reason: null, usage: {},
                    json: '', tool: null };
        for await (const ev of s) {
            r.events.push(ev.type);
            if (ev.type === 'message_start') {
                r.model = ev.message.model;
                r.id = ev.message.id;
                Object.assign(r.usage, ev.message.usage);
            } else if (ev.type === 'content_block_start'
                       && ev.content_block.type === 'tool_use') {
                r.tool = { id: ev.content_block.id,
                           name: ev.content_block.name };
            } else if (ev.type === 'content_block_delta') {
                if (ev.delta.type === 'text_delta') {
                    r.text += ev.delta.text;
                } else if (ev.delta.type === 'input_json_delta') {
                    r.json += ev.delta.partial_json;
                }
            } else if (ev.type === 'message_delta') {
                r.stop_reason = ev.delta.stop_reason;
                Object.assign(r.usage, ev.usage);
            }
        }
        return r;
    };

    out.plain = answer(await create({ messages: user('Hello there.') }));
    out.stream = await streamed(await create({ messages: user('Hello.'),
                                               stream: true }));
    out.system = answer(await create({ system: 'Be brief.',
                                       messages: user('Hello.') }));
    out.image = answer(await create({ messages: user([
        { type: 'image', source: { type: 'base64', media_type: 'image/png',
                                   data: png } },
        { type: 'text', text: 'What is this?' }]) }));
    out.stop = answer(await create({ messages: user('Count.'),
                                     stop_sequences: ['END'],
                                     temperature: 0.5 }));

    const tools = [{ name: 'get_weather', description: 'The weather of a city',
                     input_schema: { type: 'object',
                                     properties: { q: { type: 'string' } } } }];
    out.json = answer(await create({
        messages: user('Answer in JSON.'),
        tools: [{ name: 'answer', input_schema: { type: 'object',
            properties: { answer: { type: 'string' } } } }],
        tool_choice: { type: 'tool', name: 'answer' } }));

    const ask = user('Weather in Paris?');
    const call = await create({ messages: ask, tools });
    out.tool = answer(call);
    const use = call.content.find((b) => b.type === 'tool_use');
    out.tool_result = answer(await create({ tools, messages: [
        ...ask,
        { role: 'assistant', content: call.content },
        { role: 'user', content: [{ type: 'tool_result',
                                    tool_use_id: use.id,
                                    content: 'sunny' }] }] }));
    out.tool_stream = await streamed(await create({ messages: ask, tools,
                                                    stream: true }));

    for (const status of [400, 429, 500, 529]) {
        try {
            await create({ messages: user('Hello.') },
                         { 'X-Mock-Status': String(status) });
            out[`error_${status}`] = { name: 'none' };
        } catch (e) {
            out[`error_${status}`] = errorOf(e);
        }
    }

    for (const bad of ['truncate', 'unknown', 'badjson']) {
        try {
            const r = await streamed(await create(
                { messages: user('Hello.'), stream: true },
                { 'X-Mock-Bad': bad }));
            out[`bad_${bad}`] = { name: 'none', text: r.text,
                                  events: r.events };
        } catch (e) {
            out[`bad_${bad}`] = errorOf(e);
        }
    }

    return out;
}

const run = sdk === 'openai' ? openai : sdk === 'anthropic' ? anthropic
          : null;

if (run === null || !base) {
    process.stderr.write('usage: node translate.mjs openai|anthropic '
                         + 'BASE_URL\n');
    process.exit(2);
}

run().then((out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
}).catch((e) => {
    process.stderr.write(`translate.mjs ${sdk}: ${e.name}: ${e.message}\n`);
    process.exit(1);
});
