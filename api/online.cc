#include "larder/online.h"

#include "engine/quote.h"

namespace larder {

Result<PushMode> ParsePushMode(std::string_view text) {
  if (text == "online") return PushMode::kOnline;
  if (text == "offline") return PushMode::kOffline;
  if (text == "online_and_offline") return PushMode::kOnlineAndOffline;
  return InvalidArgument("push mode " + QuoteInput(text) +
                         " is not one of online, offline, online_and_offline");
}

}  // namespace larder
