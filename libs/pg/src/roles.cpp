#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/pg/roles.hpp>
#include <lia/pg/tx.hpp>

namespace lia::pg {

core::Status ensure_service_role(Pool& pool, const std::string& schema, const std::string& role,
                                 const std::string& password_or_empty) {
  using core::Errc;
  if (schema.empty() || role.empty()) {
    return core::Error(Errc::invalid_argument, "ensure_service_role: empty schema or role name");
  }
  std::string password_clause;
  if (!password_or_empty.empty()) {
    auto lit = quote_literal(password_or_empty);
    if (!lit) return core::Error(Errc::invalid_argument, "the role's password holds a NUL byte");
    password_clause = " PASSWORD " + *lit;
  }
  const std::string s = quote_ident(schema);
  const std::string r = quote_ident(role);
  auto status = transact(pool, [&](Tx& tx) -> core::Status {
    // Roles are cluster-wide and CREATE ROLE has no IF NOT EXISTS: serialize the check.
    if (auto x = tx.exec("SELECT pg_advisory_xact_lock(hashtextextended('lia.roles', 0))"); !x) {
      return x.error();
    }
    auto exists = tx.exec("SELECT 1 FROM pg_roles WHERE rolname = $1", role);
    if (!exists) return exists.error();
    const std::string role_stmt = exists->empty() ? "CREATE ROLE " + r + " LOGIN" + password_clause
                                                  : "ALTER ROLE " + r + " LOGIN" + password_clause;
    auto ns = tx.exec("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema);
    if (!ns) return ns.error();
    const std::string schema_stmt = ns->empty() ? "CREATE SCHEMA " + s + ";\n" : "";
    const std::string dml = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER";
    const std::string script = fmt::format(
        "{role};\n{schema}"
        "REVOKE ALL ON SCHEMA {s} FROM PUBLIC;\n"
        "REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM PUBLIC;\n"
        "GRANT USAGE, CREATE ON SCHEMA {s} TO {r};\n"
        "GRANT {dml} ON ALL TABLES IN SCHEMA {s} TO {r};\n"
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r};\n"
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT {dml} ON TABLES TO {r};\n"
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r};\n",
        fmt::arg("role", role_stmt), fmt::arg("schema", schema_stmt), fmt::arg("s", s),
        fmt::arg("r", r), fmt::arg("dml", dml));
    if (auto x = tx.exec_script(script); !x) return x.error();
    return core::ok();
  });
  if (!status.ok()) {
    return core::Error(status.error().code(),
                       fmt::format("cannot set up role {} on schema {}: {}", role, schema,
                                   status.error().message()),
                       status.error().retryable());
  }
  core::log().info("service role ready",
                   {core::f::id("schema", schema), core::f::id("role", role)});
  return core::ok();
}

}  // namespace lia::pg
