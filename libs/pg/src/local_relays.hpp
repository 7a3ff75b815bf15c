#pragma once
// Outbox relays active in this process. A commit that wrote a schema's outbox wakes that
// schema's relay here directly (an eventfd write) and leaves out the NOTIFY: a NOTIFY takes
// a database-wide lock at commit and signals every listening session of the database, the
// relays of the other services included. Writers whose relay runs in another process (a
// standby replica's, a tool's) still NOTIFY.

#include <string>

#include <lia/pg/deferred.hpp>

namespace lia::pg::detail {

// Called by a relay when it becomes active (holds its schema's lock) and when it stops
// being so. `wake_fd` is an eventfd the relay polls.
void register_local_relay(const std::string& schema, int wake_fd);
void unregister_local_relay(const std::string& schema, int wake_fd);

// true when a relay of `schema` is active in this process.
bool local_relay_active(const std::string& schema);

// After a successful COMMIT: wakes the local relays of the schemas `deferred` wrote to.
void wake_local_relays(const Deferred& deferred);

}  // namespace lia::pg::detail
