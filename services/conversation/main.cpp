// lia-conversation: the single writer of contacts, conversations, messages and users.
#include <cstdlib>
#include <memory>

#include <lia/conversation/app.hpp>

int main(int argc, char** argv) {
  auto spec = lia::conversation::spec();
  // LIA_CONVERSATION_SCHEMA: another schema than "conversation" (isolated test runs).
  if (const char* schema = std::getenv("LIA_CONVERSATION_SCHEMA");  // NOLINT(concurrency-mt-unsafe)
      schema != nullptr && *schema != '\0') {
    spec.schema = schema;
  }
  return lia::runtime::run(argc, argv, spec, std::make_unique<lia::conversation::App>(spec.schema));
}
