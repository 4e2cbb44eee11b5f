// The production guest's gateway launcher (ops/guest/openclaw-init runs it as root, once per
// gateway start). Reads the control plane's configuration (engine/reconcile/guest_config.cc,
// copied from fw_cfg to /run/clawvisor/config.json, 0600 on a 0700 tmpfs), writes OpenClaw's
// own openclaw.json (no secret in it: SecretRefs to the environment), drops to the user
// openclaw and execs `openclaw gateway` with the secrets in its environment only: never an
// argument, a file on the data disk, or a line on the console.
import crypto from "node:crypto";
import fs from "node:fs";

const CONFIG = process.env.CLAWVISOR_CONFIG || "/run/clawvisor/config.json";
const OPENCLAW_CONFIG = process.env.CLAWVISOR_OPENCLAW_CONFIG || "/etc/openclaw/openclaw.json";
const DATA = process.env.CLAWVISOR_DATA || "/data";
const NODE = process.execPath;
const OPENCLAW = "/usr/local/lib/node_modules/openclaw/openclaw.mjs";
const UID = 1000;
const GID = 1000;
const DISCORD_PLUGIN = "/usr/local/lib/node_modules/@openclaw/discord";
const PROXY = "http://10.0.2.100:3128"; // the egress gateway's CONNECT door (design D9)

function say(text) {
  try {
    fs.writeFileSync("/dev/ttyS0", `clawvisor-guest: ${text}\n`);
  } catch {
    process.stderr.write(`clawvisor-guest: ${text}\n`);
  }
}

// A model API key credential's environment variable: the names OpenClaw's providers read
// (docs/help/environment.md). The credential's name picks the provider: "openai" ->
// OPENAI_API_KEY, "anthropic" -> ANTHROPIC_API_KEY, ...; a few common aliases are mapped and a
// name that already is a variable name (OPENROUTER_API_KEY) is kept.
const MODEL_KEY_ALIASES = {
  google: "GEMINI_API_KEY",
  gemini: "GEMINI_API_KEY",
  claude: "ANTHROPIC_API_KEY",
  grok: "XAI_API_KEY",
  "x.ai": "XAI_API_KEY",
  together: "TOGETHER_API_KEY",
  "together.ai": "TOGETHER_API_KEY",
  huggingface: "HF_TOKEN",
};

export function modelKeyVariable(name) {
  const lower = name.toLowerCase();
  if (MODEL_KEY_ALIASES[lower]) return MODEL_KEY_ALIASES[lower];
  const upper = name.toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  if (!/^[A-Z][A-Z0-9_]*$/.test(upper)) return null;
  return /_(API_KEY|TOKEN)$/.test(upper) ? upper : `${upper}_API_KEY`;
}

const envRef = (id) => ({ source: "env", provider: "default", id });

// The webhook token the front door sends on /hooks/* (adapters/front_door/hooks_token.h): the
// hex SHA-256 of "clawvisor-hooks-v1:" and the gateway token. Derived, so the gateway token is
// never valid on /hooks and this one nowhere else.
export function hooksToken(gatewayToken) {
  return crypto.createHash("sha256").update(`clawvisor-hooks-v1:${gatewayToken}`).digest("hex");
}

// The control plane's configuration -> OpenClaw's config and the gateway's environment.
export function translate(cfg) {
  if (typeof cfg.gateway_token !== "string" || cfg.gateway_token.length === 0) {
    throw new Error("the configuration has no gateway_token");
  }
  const port = Number.isInteger(cfg.gateway_port) ? cfg.gateway_port : 18789;
  const secrets = { OPENCLAW_GATEWAY_TOKEN: cfg.gateway_token };
  const mapped = [];
  const skipped = [];
  const channels = {};
  const plugins = [];
  for (const c of Array.isArray(cfg.credentials) ? cfg.credentials : []) {
    if (!c || typeof c.name !== "string" || typeof c.value !== "string") continue;
    let variable = null;
    switch (c.kind) {
      case "model_api_key":
        variable = modelKeyVariable(c.name);
        break;
      case "telegram_bot_token":
        // Telegram's default account reads TELEGRAM_BOT_TOKEN (docs/channels/telegram/setup.md).
        variable = "TELEGRAM_BOT_TOKEN";
        channels.telegram = { enabled: true, botToken: envRef(variable) };
        break;
      case "discord_bot_token":
        // Discord starts only with a channels.discord block (docs/channels/discord/setup.md),
        // and its plugin is a separate package: the image carries it (build-openclaw.sh), loaded
        // by path and trusted explicitly (else the gateway would try to install it with npm).
        variable = "DISCORD_BOT_TOKEN";
        channels.discord = { enabled: true, token: envRef(variable) };
        plugins.push({ id: "discord", path: DISCORD_PLUGIN });
        break;
      default:
        // whatsapp_token: OpenClaw's WhatsApp channel links a device (QR) and keeps its
        // session in the state directory; it reads no token.
        break;
    }
    if (!variable || variable.startsWith("OPENCLAW_") || variable in secrets) {
      skipped.push(`${c.name} (${c.kind})`);
      continue;
    }
    secrets[variable] = c.value;
    mapped.push(`${c.name} -> ${variable}`);
  }
  const config = {
    gateway: {
      mode: "local",
      port,
      bind: "lan",
      auth: { mode: "token", token: envRef("OPENCLAW_GATEWAY_TOKEN") },
    },
    session: { dmScope: "per-channel-peer" },
    // Webhooks (the front door's /hooks/{path token}/...). OpenClaw takes no SecretRef here,
    // so this one secret is in the file: 0600, its user's, on a tmpfs.
    hooks: { enabled: true, path: "/hooks", token: hooksToken(cfg.gateway_token) },
  };
  if (Object.keys(channels).length > 0) config.channels = channels;
  if (plugins.length > 0) {
    config.plugins = {
      load: { paths: plugins.map((p) => p.path) },
      entries: Object.fromEntries(plugins.map((p) => [p.id, { enabled: true }])),
    };
  }
  return { config, secrets, port, mapped, skipped };
}

function main() {
  let cfg;
  try {
    cfg = JSON.parse(fs.readFileSync(CONFIG, "utf8"));
  } catch (e) {
    say(`cannot read the configuration ${CONFIG}: ${e.code || e.name}`);
    process.exit(78);
  }
  let t;
  try {
    t = translate(cfg);
  } catch (e) {
    say(e.message);
    process.exit(78);
  }
  // Written for its user, 0600, on the tmpfs (never the data disk). The directory is that user's,
  // and processes of a previous gateway may outlive it: nothing here follows a name the user
  // could have swapped (O_EXCL|O_NOFOLLOW create, then fchown of what was opened, not a path).
  const tmp = `${OPENCLAW_CONFIG}.tmp`;
  fs.rmSync(tmp, { force: true });
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(t.config, null, 2) + "\n");
    fs.fchownSync(fd, UID, GID);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, OPENCLAW_CONFIG);

  const env = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: DATA,
    USER: "openclaw",
    LOGNAME: "openclaw",
    SHELL: "/bin/sh",
    LANG: "C.UTF-8",
    TZ: "UTC",
    TMPDIR: "/tmp",
    NODE_ENV: "production",
    NO_COLOR: "1", // the console is a log file
    OPENCLAW_STATE_DIR: `${DATA}/.openclaw`,
    OPENCLAW_CONFIG_PATH: OPENCLAW_CONFIG,
    // The control plane owns the config: the gateway, doctor and plugins do not rewrite it.
    OPENCLAW_CONFIG_READONLY: "1",
    OPENCLAW_NO_AUTO_UPDATE: "1",
    OPENCLAW_DISABLE_BONJOUR: "1", // no mDNS: nothing on the VM's network would hear it
    OPENCLAW_OFFLINE: "1", // no helper-binary downloads (the egress door would refuse them)
    // Egress (design D9): Node's fetch/http(s) through the CONNECT proxy; names are resolved
    // by the egress gateway (the guest has no DNS).
    NODE_USE_ENV_PROXY: "1",
    HTTPS_PROXY: PROXY,
    HTTP_PROXY: PROXY,
    https_proxy: PROXY,
    http_proxy: PROXY,
    NO_PROXY: "localhost,127.0.0.1,::1",
    no_proxy: "localhost,127.0.0.1,::1",
    NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt",
    ...t.secrets,
  };
  say(`gateway token set; credentials: ${t.mapped.join(", ") || "none"}` +
      (t.skipped.length ? `; not mapped: ${t.skipped.join(", ")}` : ""));

  process.setgroups([GID]);
  process.setgid(GID);
  process.setuid(UID);
  process.chdir(DATA);
  process.execve(NODE, [NODE, OPENCLAW, "gateway", "--port", String(t.port)], env);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
