#pragma once
// Schema migrations, numbered, each with its reversal.
//
// A folder holds NNNN_name.up.sql and NNNN_name.down.sql (every up needs its down).
// A Migrator works on one schema for one component (a service, or "lia.platform" for the
// outbox and inbox tables) and records what it applied in
// <schema>.schema_migrations(component, version, name, checksum, applied_at).
// A run holds a session advisory lock derived from the schema name, so two runners started
// at once never race: the second waits and then finds everything applied. Each migration
// runs in its own transaction with search_path set to the schema, so its SQL names tables
// without the schema (and must not BEGIN/COMMIT itself or use CREATE INDEX CONCURRENTLY).
// An applied migration whose up text changed (sha256 checksum) stops the run with an
// error naming it.
// A step waits for a table's lock at most LockPatience::per_try (SET LOCAL lock_timeout): a
// DDL queued behind a long transaction would otherwise hold every later statement on that
// table behind it, stalling the services that use it. It is then tried again, after a pause
// that grows, until LockPatience::give_up_after has passed.
//
//   auto ms = lia::pg::load_migrations("services/conversation/migrations");
//   if (!ms) return ms.error();
//   auto applied = lia::pg::migrate_service(pool, "conversation", "conversation", *ms);

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/pg/pool.hpp>

namespace lia::pg {

struct Migration {
  int version = 0;
  std::string name;
  std::string up;
  std::string down;
};

// Reads NNNN_name.up.sql / NNNN_name.down.sql, sorted by version. Errors name the file:
// an up without its down (or the reverse), a .sql file not named that way, a version used
// twice. Other files (README.md) are ignored.
core::Result<std::vector<Migration>> load_migrations(const std::filesystem::path& dir);

// sha256 of the up text, in hex.
std::string migration_checksum(const Migration& m);

// The component name and migrations of the tables every service schema has: outbox, inbox.
inline constexpr const char* kPlatformComponent = "lia.platform";
const std::vector<Migration>& platform_migrations();

struct MigrationState {
  int version = 0;
  std::string name;
  bool applied = false;
  std::optional<std::string> applied_at;  // RFC 3339, when applied
  bool changed = false;                   // applied, and its up text differs now
  bool known = true;                      // false: applied, but not in this Migrator's list
};

struct LockPatience {
  std::chrono::milliseconds per_try{5000};
  std::chrono::milliseconds give_up_after{std::chrono::minutes{10}};
};

class Migrator {
 public:
  Migrator(std::shared_ptr<Pool> pool, std::string schema, std::string component,
           std::vector<Migration> migrations);
  // Opens its own single connection to `url`.
  Migrator(const std::string& url, std::string schema, std::string component,
           std::vector<Migration> migrations);

  // Creates the schema (if missing) and schema_migrations, then applies every pending
  // migration in version order. Returns how many this call applied.
  core::Result<int> up();
  // Reverts applied migrations newer than target_version, newest first. Returns how many.
  core::Result<int> down(int target_version);
  // Every known migration and every applied one, by version.
  core::Result<std::vector<MigrationState>> status();

  const std::string& schema() const { return schema_; }
  const std::string& component() const { return component_; }
  void set_lock_patience(LockPatience p) { patience_ = p; }

 private:
  core::Status check_list() const;
  // run_step, tried again while it meets its lock timeout (within patience_).
  core::Status step(Connection& conn, const Migration& m, bool up) const;
  LockPatience patience_;
  std::shared_ptr<Pool> pool_;
  std::optional<core::Error> pool_error_;
  std::string schema_;
  std::string component_;
  std::vector<Migration> migrations_;
};

// The platform migrations, then the service's own. Returns how many were applied in all.
core::Result<int> migrate_service(const std::shared_ptr<Pool>& pool, const std::string& schema,
                                  const std::string& component,
                                  const std::vector<Migration>& migrations);

}  // namespace lia::pg
