#pragma once

// The hosts an OpenClaw instance needs by default (design D9): its LLM providers and its chat
// platforms, all HTTPS or WSS. A plan may narrow or widen it (#17); an operator sets the host's
// default with --egress-allow-hosts.

#include <string_view>

namespace clawvisor::egress {

inline constexpr std::string_view DefaultAllowedHosts() {
  return
      // LLM providers
      "api.openai.com,api.anthropic.com,generativelanguage.googleapis.com,openrouter.ai,"
      "api.mistral.ai,api.groq.com,api.deepseek.com,api.x.ai,api.together.xyz,"
      "api.fireworks.ai,api.perplexity.ai,api.cohere.com,"
      // Telegram
      "api.telegram.org,"
      // Discord (REST, gateway WebSocket, attachments)
      "discord.com,*.discord.com,gateway.discord.gg,*.discord.gg,cdn.discordapp.com,"
      "media.discordapp.net,"
      // WhatsApp (web multi-device)
      "web.whatsapp.com,*.whatsapp.net,*.whatsapp.com,"
      // Slack
      "slack.com,*.slack.com";
}

}  // namespace clawvisor::egress
