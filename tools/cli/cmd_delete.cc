// larder delete --view V --entity K=V [...]: removes entities' rows from one feature view
// under the writer lock (Store::DeleteRows), and prints each row removed with its event time.
#include <iostream>

#include "engine/store.h"
#include "larder/timestamp.h"
#include "tools/cli/commands.h"

namespace larder::cli {

namespace {

constexpr std::string_view kCmd = "delete";

}  // namespace

int RunDelete(const std::string& repo, const std::string& view,
              const std::vector<std::string>& entities) {
  auto config = LoadRepoConfig(repo);
  if (!config.ok()) return Fail(kCmd, config.status());
  WriterOptions options;
  options.reader_grace_ms = static_cast<int>(config->online_store.reader_grace_ms);
  auto store = Store::Open(config->online_store.path, /*writable=*/true, options);
  if (!store.ok()) return Fail(kCmd, store.status());
  auto catalog = (*store)->CurrentCatalog();
  if (!catalog.ok()) return Fail(kCmd, catalog.status());
  auto frame = EntityFrame(entities, JoinKeyTypes((*catalog)->config()));
  if (!frame.ok()) return Fail(kCmd, frame.status());
  auto result = (*store)->DeleteRows(view, *frame);
  if (!result.ok()) return Fail(kCmd, result.status());
  for (const Store::DeletedRow& row : result->removed) {
    std::cout << "removed the row of " << row.entity << " from '" << view << "' (event time "
              << FormatTimestamp(row.event_ts) << ")\n";
  }
  for (const std::string& entity : result->not_found) {
    std::cout << "no row of " << entity << " in '" << view << "'\n";
  }
  std::cout << "removed " << result->removed.size() << " row"
            << (result->removed.size() == 1 ? "" : "s") << " from '" << view << "'\n"
            << std::flush;
  return 0;
}

}  // namespace larder::cli
