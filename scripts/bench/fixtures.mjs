// What the JavaScript benchmarks send and answer: a Messages request and a Messages-like
// JSON answer with its `usage`, the same in every bench that compares them.

/** A small Messages API request (the estimate reads its body). */
export const MESSAGES_INIT = {
  method: "POST",
  headers: { "content-type": "application/json", "x-api-key": "bench", "anthropic-version": "2023-06-01" },
  body: JSON.stringify({ model: "claude-bench", max_tokens: 64, messages: [{ role: "user", content: "Hello" }] }),
};

/** A 64 KB conversation: forty turns of prose, what a chat or an agent sends late in a session. */
export const CONVERSATION_BODY = JSON.stringify({
  model: "claude-bench",
  max_tokens: 1024,
  messages: Array.from({ length: 40 }, (_, i) => ({
    role: i % 2 ? "assistant" : "user",
    content: "The quick brown fox jumps over the lazy dog. ".repeat(36),
  })),
});

/** A Messages API answer's JSON text, with the usage the pacer settles on. */
export const MESSAGE_BODY = JSON.stringify({
  id: "msg_bench",
  type: "message",
  role: "assistant",
  model: "claude-bench",
  content: [{ type: "text", text: "Hello! How can I help you today?" }],
  stop_reason: "end_turn",
  usage: { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 10 },
});
