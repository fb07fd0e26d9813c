// llm-pacer/cloudflare under Node (and Bun): its Durable Object imports `cloudflare:workers`,
// which only Cloudflare's workerd has. A clear error instead of Node's
// ERR_UNSUPPORTED_ESM_URL_SCHEME; built as CommonJS, so `import` and `require` both get it.
throw new Error(
  "llm-pacer/cloudflare runs only in Cloudflare's workerd (Workers, wrangler dev, Miniflare): " +
    "its Durable Object needs cloudflare:workers. In Node, share limits through llm-pacer/redis.",
);
