// Drives the official Anthropic SDK against a base URL (nginx + llmopt):
//   node anthropic.mjs http://127.0.0.1:PORT
// One message not streaming, one streaming; prints a JSON summary on
// stdout; exits non-zero on any SDK error.

import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.argv[2];
const client = new Anthropic({ baseURL, apiKey: 'sk-ant-client-side',
                               maxRetries: 0, timeout: 20000 });
const request = {
    model: 'auto', max_tokens: 128, system: 'Be brief.',
    messages: [{ role: 'user', content: 'Name three HTTP methods.' }],
};
const out = {};

const message = await client.messages.create(request);
out.json = {
    model: message.model,
    text: message.content.map((b) => b.text ?? '').join(''),
    stop_reason: message.stop_reason,
    usage: message.usage,
};

const stream = client.messages.stream(request);
const events = [];
stream.on('streamEvent', (e) => events.push(e.type));
const final = await stream.finalMessage();
out.stream = {
    model: final.model,
    text: final.content.map((b) => b.text ?? '').join(''),
    stop_reason: final.stop_reason,
    usage: final.usage,
    events,
};

process.stdout.write(JSON.stringify(out) + '\n');
