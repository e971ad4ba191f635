// Drives one official SDK through thinking and reasoning (t/203-thinking.t)
// against a base URL, with X-Mock-Thinking so that the mock's answer
// reasons before its text:
//
//   node thinking.mjs openai|anthropic BASE_URL
//
// Prints one JSON line on stdout: json and stream, each what the SDK
// parsed (text, the reasoning or the thinking blocks, the stop reason, the
// usage), and exits 1 when the SDK failed (stderr says why).

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const sdk = process.argv[2];
const base = process.argv[3];
const headers = { 'X-Mock-Thinking': '1' };

async function openai() {
    const client = new OpenAI({ baseURL: `${base}/v1`,
                                apiKey: 'sk-client-side', maxRetries: 0,
                                timeout: 20000 });
    const body = { model: 'auto', reasoning_effort: 'medium',
                   messages: [{ role: 'user', content: 'Think.' }] };
    const c = await client.chat.completions.create(body, { headers });
    const json = { text: c.choices[0].message.content,
                   reasoning: c.choices[0].message.reasoning_content ?? null,
                   finish_reason: c.choices[0].finish_reason,
                   usage: c.usage };
    const s = await client.chat.completions.create(
        { ...body, stream: true, stream_options: { include_usage: true } },
        { headers });
    const stream = { text: '', reasoning: '', finish_reason: null,
                     usage: null };
    for await (const chunk of s) {
        stream.usage = chunk.usage ?? stream.usage;
        for (const ch of chunk.choices) {
            stream.text += ch.delta.content ?? '';
            stream.reasoning += ch.delta.reasoning_content ?? '';
            stream.finish_reason = ch.finish_reason ?? stream.finish_reason;
        }
    }
    return { json, stream };
}

async function anthropic() {
    const client = new Anthropic({ baseURL: base, apiKey: 'sk-client-side',
                                   maxRetries: 0, timeout: 20000 });
    const body = { model: 'auto', max_tokens: 8192,
                   thinking: { type: 'enabled', budget_tokens: 4096 },
                   messages: [{ role: 'user', content: 'Think.' }] };
    const shape = (m) => ({
        blocks: m.content.map((b) => b.type),
        thinking: m.content.filter((b) => b.type === 'thinking')
                           .map((b) => ({ thinking: b.thinking,
                                          signature: b.signature })),
        text: m.content.filter((b) => b.type === 'text')
                       .map((b) => b.text).join(''),
        stop_reason: m.stop_reason, usage: m.usage });
    const m = await client.messages.create(body, { headers });
    const s = client.messages.stream(body, { headers });
    const events = [];
    s.on('streamEvent', (e) => events.push(e.type));
    const final = await s.finalMessage();
    return { json: shape(m), stream: { ...shape(final), events } };
}

try {
    const out = sdk === 'openai' ? await openai() : await anthropic();
    console.log(JSON.stringify(out));
} catch (e) {
    console.error(`${sdk}: ${e.constructor.name}: ${e.message}`);
    process.exit(1);
}
