// ops/guest/openclaw-launch.mjs's translation of clawvisor's guest configuration into OpenClaw's
// own (node --test; the gateway itself is exercised by tests/integration/openclaw_e2e_test.cc).
import assert from "node:assert/strict";
import { test } from "node:test";

import { hooksToken, modelKeyVariable, translate } from "../../../ops/guest/openclaw-launch.mjs";

const GATEWAY_TOKEN = "gateway-token-abc";

test("the hooks token is the front door's derivation of the gateway token", () => {
  // printf 'clawvisor-hooks-v1:gateway-token-abc' | sha256sum (adapters/front_door/hooks_token.h)
  assert.equal(hooksToken(GATEWAY_TOKEN),
               "4268c54a27d51a63ae5ef0ff81e463bb6d585ae42e493ddf2d4d1b06dea6fc96");
});

test("model keys take the names OpenClaw's providers read", () => {
  assert.equal(modelKeyVariable("openai"), "OPENAI_API_KEY");
  assert.equal(modelKeyVariable("anthropic"), "ANTHROPIC_API_KEY");
  assert.equal(modelKeyVariable("OPENROUTER_API_KEY"), "OPENROUTER_API_KEY");
  assert.equal(modelKeyVariable("google"), "GEMINI_API_KEY");
  assert.equal(modelKeyVariable("huggingface"), "HF_TOKEN");
  assert.equal(modelKeyVariable("--"), null);
});

test("secrets go to the environment; the config holds references and the hooks token only", () => {
  const t = translate({
    gateway_port: 18789,
    gateway_token: GATEWAY_TOKEN,
    credentials: [
      { name: "openai", kind: "model_api_key", value: "sk-canary-1" },
      { name: "tg", kind: "telegram_bot_token", value: "tg-canary-2" },
      { name: "dc", kind: "discord_bot_token", value: "dc-canary-3" },
      { name: "OPENCLAW_GATEWAY_TOKEN", kind: "model_api_key", value: "override-canary-4" },
      { name: "wa", kind: "whatsapp_token", value: "wa-canary-5" },
    ],
  });
  assert.deepEqual(t.secrets, {
    OPENCLAW_GATEWAY_TOKEN: GATEWAY_TOKEN,
    OPENAI_API_KEY: "sk-canary-1",
    TELEGRAM_BOT_TOKEN: "tg-canary-2",
    DISCORD_BOT_TOKEN: "dc-canary-3",
  });
  const text = JSON.stringify(t.config);
  for (const secret of [GATEWAY_TOKEN, "canary"]) assert.ok(!text.includes(secret), secret);
  assert.equal(t.config.gateway.port, 18789);
  assert.equal(t.config.gateway.bind, "lan");
  // No trusted proxy: the front door sends no forwarded headers (adapters/front_door/proxy_headers.h),
  // and the reconciler's probe arrives unattributed from the same address.
  assert.equal(t.config.gateway.trustedProxies, undefined);
  assert.equal(t.config.gateway.mode, "local");
  assert.deepEqual(t.config.gateway.auth.token,
                   { source: "env", provider: "default", id: "OPENCLAW_GATEWAY_TOKEN" });
  assert.equal(t.config.session.dmScope, "per-channel-peer");
  assert.deepEqual(t.config.hooks, { enabled: true, path: "/hooks", token: hooksToken(GATEWAY_TOKEN) });
  assert.equal(t.config.channels.telegram.botToken.id, "TELEGRAM_BOT_TOKEN");
  assert.equal(t.config.channels.discord.token.id, "DISCORD_BOT_TOKEN");
  // Discord's plugin ships in the image, loaded by path and trusted, never installed at run time.
  assert.deepEqual(t.config.plugins, {
    load: { paths: ["/usr/local/lib/node_modules/@openclaw/discord"] },
    entries: { discord: { enabled: true } },
  });
  assert.deepEqual(t.skipped, ["OPENCLAW_GATEWAY_TOKEN (model_api_key)", "wa (whatsapp_token)"]);
});

test("no Discord, no plugins block; no gateway token, no start", () => {
  const t = translate({ gateway_token: GATEWAY_TOKEN, credentials: [] });
  assert.equal(t.config.plugins, undefined);
  assert.equal(t.config.channels, undefined);
  assert.equal(t.port, 18789);
  assert.throws(() => translate({ credentials: [] }), /no gateway_token/);
});
