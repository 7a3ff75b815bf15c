#pragma once
// One role per service, granted its own schema only.
//
// ensure_service_role() (run by an administrator, e.g. at deploy time) makes sure that:
//   - the role exists with LOGIN (and the password, when one is given);
//   - the schema exists, PUBLIC has no rights on it or its tables;
//   - the role has USAGE and CREATE on the schema: the service's own `--migrate` job runs as
//     the service role and owns the tables it creates, so no service needs administrator
//     credentials;
//   - the role has full DML rights on the schema's existing tables and sequences, and by
//     default privileges on the ones the administrator creates there later;
//   - nothing on any other schema.
// It is idempotent and safe to run concurrently.

#include <string>

#include <lia/core/result.hpp>
#include <lia/pg/pool.hpp>

namespace lia::pg {

core::Status ensure_service_role(Pool& pool, const std::string& schema, const std::string& role,
                                 const std::string& password_or_empty);

}  // namespace lia::pg
