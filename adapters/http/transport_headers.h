#pragma once

// Header values every HTTPS server of clawvisor sends the same way (HttpApi, the front door).

#include <string_view>

namespace clawvisor {

// Two years, as the HSTS preload list asks; no includeSubDomains: a server cannot know what else
// runs under its parent domain.
inline constexpr std::string_view kHstsValue = "max-age=63072000";

}  // namespace clawvisor
