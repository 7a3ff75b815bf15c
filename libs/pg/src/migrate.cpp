#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <openssl/evp.h>

#include <lia/core/log.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/tx.hpp>

namespace lia::pg {
namespace {

using core::Errc;
using core::Error;
namespace f = core::f;

std::string label(int version, const std::string& name) {
  return fmt::format("{:04}_{}", version, name);
}

core::Result<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Error(Errc::invalid_argument, "cannot read migration file " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lock_key(const std::string& schema) {
  return "lia.migrations:" + schema;
}

// Holds the schema's migration lock on one connection for the lifetime of a run.
class SchemaLock {
 public:
  static core::Result<SchemaLock> take(Pool& pool, const std::string& schema) {
    auto lease = pool.acquire();
    if (!lease) return lease.error();
    auto r = (*lease)->exec("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock_key(schema));
    if (!r) return r.error();
    return SchemaLock(std::move(*lease), schema);
  }
  SchemaLock(SchemaLock&&) noexcept = default;
  SchemaLock& operator=(SchemaLock&&) = delete;
  SchemaLock(const SchemaLock&) = delete;
  SchemaLock& operator=(const SchemaLock&) = delete;
  ~SchemaLock() {
    if (!lease_) return;
    detail::rollback(*lease_);
    auto r = lease_->exec("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock_key(schema_));
    if (!r || r->empty() || !(*r)[0].get<std::optional<bool>>(0).value_or(false)) {
      lease_.discard();  // closing the session releases the lock for sure
    }
  }
  Connection& conn() { return *lease_; }

 private:
  SchemaLock(Lease lease, std::string schema)
      : lease_(std::move(lease)), schema_(std::move(schema)) {}
  Lease lease_;
  std::string schema_;
};

std::string table(const std::string& schema) {
  return quote_ident(schema) + ".schema_migrations";
}

core::Result<bool> table_exists(Connection& conn, const std::string& schema) {
  auto r = conn.exec("SELECT to_regclass($1) IS NOT NULL", table(schema));
  if (!r) return r.error();
  return (*r)[0].get<bool>(0);
}

core::Status prepare_schema(Connection& conn, const std::string& schema) {
  auto exists = conn.exec("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema);
  if (!exists) return exists.error();
  if (exists->empty()) {
    // Only when missing: CREATE SCHEMA IF NOT EXISTS needs the database's CREATE right even
    // when the schema is there, which a service role doesn't have.
    if (auto r = conn.exec_script("CREATE SCHEMA " + quote_ident(schema)); !r) return r.error();
  }
  auto has = table_exists(conn, schema);
  if (!has) return has.error();
  if (!*has) {
    auto r = conn.exec_script("CREATE TABLE " + table(schema) +
                              " (component text NOT NULL, version int NOT NULL, name text NOT "
                              "NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL "
                              "DEFAULT now(), PRIMARY KEY (component, version))");
    if (!r) return r.error();
  }
  return core::ok();
}

struct Applied {
  int version = 0;
  std::string name;
  std::string checksum;
  std::string applied_at;
};

core::Result<std::map<int, Applied>> read_applied(Connection& conn, const std::string& schema,
                                                  const std::string& component) {
  auto r = conn.exec(
      "SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM " +
          table(schema) + " WHERE component = $1 ORDER BY version",
      component);
  if (!r) return r.error();
  std::map<int, Applied> out;
  for (const auto& row : *r) {
    Applied a{row.get<int>(0), row.get<std::string>(1), row.get<std::string>(2),
              row.get<std::string>(3)};
    out.emplace(a.version, std::move(a));
  }
  return out;
}

// Runs one migration step (up or down) in its own transaction.
// `state`: the SQLSTATE of a failure, when the database gave one (the error returned names the
// migration first, which hides it from pg::sqlstate).
core::Status run_step(Connection& conn, const std::string& schema, const std::string& component,
                      const Migration& m, bool up, std::chrono::milliseconds lock_wait,
                      std::optional<std::string>& state) {
  const std::string what =
      fmt::format("migration {} ({} of component {} in schema {})", label(m.version, m.name),
                  up ? "up" : "down", component, schema);
  state.reset();
  auto fail = [&](const Error& e) {
    state = sqlstate(e);
    detail::rollback(conn);
    return Error(e.code(), what + " failed: " + e.message(), e.retryable());
  };
  if (auto s = detail::begin(conn, {}); !s.ok()) return fail(s.error());
  // No statement timeout (a pool's, LIA_PG_STATEMENT_TIMEOUT_MS, would cut a backfill short):
  // a lock timeout is then the only timeout a step meets.
  if (auto r = conn.exec_script(fmt::format("SET LOCAL search_path TO {}; SET LOCAL "
                                            "lock_timeout = {}; SET LOCAL statement_timeout = 0",
                                            quote_ident(schema), lock_wait.count()));
      !r) {
    return fail(r.error());
  }
  if (auto r = conn.exec_script(up ? m.up : m.down); !r) return fail(r.error());
  auto rec =
      up ? conn.exec("INSERT INTO " + table(schema) +
                         " (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                     component, m.version, m.name, migration_checksum(m))
         : conn.exec("DELETE FROM " + table(schema) + " WHERE component = $1 AND version = $2",
                     component, m.version);
  if (!rec) return fail(rec.error());
  if (auto s = detail::commit(conn); !s.ok()) return fail(s.error());
  core::log().info(up ? "migration applied" : "migration reverted",
                   {f::id("schema", schema), f::id("component", component),
                    f::num("version", m.version), f::id("name", m.name)});
  return core::ok();
}

}  // namespace

core::Result<std::vector<Migration>> load_migrations(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Error(Errc::invalid_argument, "migrations folder " + dir.string() + " not found");
  }
  static const std::regex pattern(R"(^([0-9]+)_([A-Za-z0-9_\-]+)\.(up|down)\.sql$)");
  struct Files {
    std::string name;
    std::filesystem::path up;
    std::filesystem::path down;
  };
  std::map<int, Files> found;
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".sql") paths.push_back(e.path());
  }
  if (ec) return Error(Errc::invalid_argument, "cannot list " + dir.string() + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    const std::string file = p.filename().string();
    std::smatch m;
    if (!std::regex_match(file, m, pattern)) {
      return Error(Errc::invalid_argument,
                   "migration file " + p.string() +
                       ": the name must be NNNN_name.up.sql or NNNN_name.down.sql");
    }
    int version = 0;
    const std::string digits = m[1].str();
    auto [ptr, perr] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
    if (perr != std::errc{} || version <= 0) {
      return Error(Errc::invalid_argument,
                   "migration file " + p.string() + ": the version must be a positive number");
    }
    auto& files = found[version];
    if (!files.name.empty() && files.name != m[2].str()) {
      return Error(Errc::invalid_argument,
                   fmt::format("migration file {}: version {} is also used by {}_{}", p.string(),
                               version, digits, files.name));
    }
    files.name = m[2].str();
    (m[3].str() == "up" ? files.up : files.down) = p;
  }
  std::vector<Migration> out;
  for (const auto& [version, files] : found) {
    if (files.down.empty()) {
      return Error(Errc::invalid_argument,
                   "migration file " + files.up.string() + " has no matching .down.sql file");
    }
    if (files.up.empty()) {
      return Error(Errc::invalid_argument,
                   "migration file " + files.down.string() + " has no matching .up.sql file");
    }
    auto up = read_file(files.up);
    if (!up) return up.error();
    auto down = read_file(files.down);
    if (!down) return down.error();
    out.push_back({version, files.name, std::move(*up), std::move(*down)});
  }
  return out;
}

std::string migration_checksum(const Migration& m) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(m.up.data(), m.up.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(static_cast<std::size_t>(len) * 2);
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

const std::vector<Migration>& platform_migrations() {
  static const std::vector<Migration> migrations{
      {1, "outbox",
       R"(CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  topic text NOT NULL,
  key text NOT NULL,
  payload text NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
)",
       "DROP TABLE outbox;\n"},
      {2, "inbox",
       R"(CREATE TABLE inbox (
  consumer text NOT NULL,
  event_id text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);
)",
       "DROP TABLE inbox;\n"},
      // A row Kafka refuses for good (too large, say) is set aside with its error instead of
      // holding every later row back; clearing failed_at sends it again.
      {3, "outbox_failed_rows",
       R"(ALTER TABLE outbox ADD COLUMN failed_at timestamptz, ADD COLUMN last_error text;
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed_idx ON outbox (id) WHERE failed_at IS NOT NULL;
)",
       R"(DROP INDEX outbox_failed_idx;
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
ALTER TABLE outbox DROP COLUMN failed_at, DROP COLUMN last_error;
)"},
      // The active relay's note of how the last one let go of the outbox (OutboxRelay): a
      // relay that took over from one that may have left records in flight holds back the
      // compacted topics a while, so that a late copy cannot land after a newer value.
      {4, "outbox_relay",
       R"(CREATE TABLE outbox_relay (
  id int PRIMARY KEY CHECK (id = 1),
  holder text NOT NULL,
  released_clean boolean NOT NULL,
  taken_at timestamptz NOT NULL DEFAULT now()
);
)",
       "DROP TABLE outbox_relay;\n"},
  };
  return migrations;
}

Migrator::Migrator(std::shared_ptr<Pool> pool, std::string schema, std::string component,
                   std::vector<Migration> migrations)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      component_(std::move(component)),
      migrations_(std::move(migrations)) {
  std::sort(migrations_.begin(), migrations_.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
}

Migrator::Migrator(const std::string& url, std::string schema, std::string component,
                   std::vector<Migration> migrations)
    : Migrator(std::shared_ptr<Pool>{}, std::move(schema), std::move(component),
               std::move(migrations)) {
  auto pool = Pool::create({.url = url, .size = 1, .application_name = "lia-migrate"});
  if (pool) {
    pool_ = std::move(*pool);
  } else {
    pool_error_ = pool.error();
  }
}

core::Status Migrator::check_list() const {
  if (pool_error_) return *pool_error_;
  if (!pool_) return Error(Errc::invalid_argument, "migrator has no pool");
  if (schema_.empty()) return Error(Errc::invalid_argument, "migrator: empty schema name");
  if (component_.empty()) return Error(Errc::invalid_argument, "migrator: empty component name");
  std::set<int> seen;
  for (const auto& m : migrations_) {
    if (m.version <= 0) {
      return Error(Errc::invalid_argument,
                   fmt::format("migration {}: the version must be positive", m.name));
    }
    if (!seen.insert(m.version).second) {
      return Error(Errc::invalid_argument,
                   fmt::format("migration version {} is listed twice", m.version));
    }
  }
  return core::ok();
}

core::Status Migrator::step(Connection& conn, const Migration& m, bool up) const {
  const auto give_up_at = std::chrono::steady_clock::now() + patience_.give_up_after;
  for (int attempt = 1;; ++attempt) {
    std::optional<std::string> state;
    auto s = run_step(conn, schema_, component_, m, up, patience_.per_try, state);
    // A lock timeout (55P03) is another session's transaction holding the table: let it
    // finish, then queue again. Anything else, a cancel by hand (57014) included, stops here.
    if (s.ok() || state != "55P03" || std::chrono::steady_clock::now() >= give_up_at) {
      return s;
    }
    const auto pause = std::min<std::chrono::milliseconds>(
        patience_.per_try, std::chrono::milliseconds{500} * attempt);
    core::log().warn(
        "a migration waits for a lock another session holds (a long transaction "
        "on its table?); trying again",
        {f::id("schema", schema_), f::id("component", component_),
         f::id("migration", label(m.version, m.name)), f::num("attempt", attempt),
         f::num("pause_ms", pause.count())});
    std::this_thread::sleep_for(pause);
  }
}

core::Result<int> Migrator::up() {
  if (auto s = check_list(); !s.ok()) return s.error();
  auto lock = SchemaLock::take(*pool_, schema_);
  if (!lock) return lock.error();
  Connection& conn = lock->conn();
  if (auto s = prepare_schema(conn, schema_); !s.ok()) return s.error();
  auto applied = read_applied(conn, schema_, component_);
  if (!applied) return applied.error();
  for (const auto& m : migrations_) {
    auto it = applied->find(m.version);
    if (it == applied->end()) continue;
    const std::string sum = migration_checksum(m);
    if (it->second.checksum != sum) {
      return Error(Errc::conflict,
                   fmt::format("migration {} of component {} in schema {} was changed after it "
                               "was applied (checksum {} applied, {} now): restore the file and "
                               "add a new migration instead",
                               label(m.version, m.name), component_, schema_,
                               it->second.checksum.substr(0, 12), sum.substr(0, 12)),
                   false);
    }
  }
  int count = 0;
  for (const auto& m : migrations_) {
    if (applied->count(m.version) > 0) continue;
    if (auto s = step(conn, m, true); !s.ok()) return s.error();
    ++count;
  }
  return count;
}

core::Result<int> Migrator::down(int target_version) {
  if (auto s = check_list(); !s.ok()) return s.error();
  auto lock = SchemaLock::take(*pool_, schema_);
  if (!lock) return lock.error();
  Connection& conn = lock->conn();
  auto exists = table_exists(conn, schema_);
  if (!exists) return exists.error();
  if (!*exists) return 0;
  auto applied = read_applied(conn, schema_, component_);
  if (!applied) return applied.error();
  int count = 0;
  for (auto it = applied->rbegin(); it != applied->rend(); ++it) {
    if (it->first <= target_version) break;
    auto m = std::find_if(migrations_.begin(), migrations_.end(),
                          [&](const Migration& x) { return x.version == it->first; });
    if (m == migrations_.end()) {
      return Error(Errc::invalid_argument,
                   fmt::format("cannot revert migration {} of component {}: its files are not "
                               "in this migrator's list",
                               label(it->first, it->second.name), component_));
    }
    if (auto s = step(conn, *m, false); !s.ok()) return s.error();
    ++count;
  }
  return count;
}

core::Result<std::vector<MigrationState>> Migrator::status() {
  if (auto s = check_list(); !s.ok()) return s.error();
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto exists = table_exists(**lease, schema_);
  if (!exists) return exists.error();
  std::map<int, Applied> applied;
  if (*exists) {
    auto a = read_applied(**lease, schema_, component_);
    if (!a) return a.error();
    applied = std::move(*a);
  }
  std::map<int, MigrationState> out;
  for (const auto& m : migrations_) {
    MigrationState st{m.version, m.name};
    if (auto it = applied.find(m.version); it != applied.end()) {
      st.applied = true;
      st.applied_at = it->second.applied_at;
      st.changed = it->second.checksum != migration_checksum(m);
    }
    out.emplace(m.version, std::move(st));
  }
  for (const auto& [v, a] : applied) {
    if (out.count(v) > 0) continue;
    MigrationState st{v, a.name, true, a.applied_at};
    st.known = false;
    out.emplace(v, std::move(st));
  }
  std::vector<MigrationState> list;
  list.reserve(out.size());
  for (auto& [v, st] : out) list.push_back(std::move(st));
  return list;
}

core::Result<int> migrate_service(const std::shared_ptr<Pool>& pool, const std::string& schema,
                                  const std::string& component,
                                  const std::vector<Migration>& migrations) {
  if (component == kPlatformComponent) {
    return Error(Errc::invalid_argument,
                 std::string("component name ") + kPlatformComponent + " is reserved");
  }
  auto platform = Migrator(pool, schema, kPlatformComponent, platform_migrations()).up();
  if (!platform) return platform.error();
  auto own = Migrator(pool, schema, component, migrations).up();
  if (!own) return own.error();
  return *platform + *own;
}

}  // namespace lia::pg
