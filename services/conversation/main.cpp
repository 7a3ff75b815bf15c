// lia-conversation: the single writer of contacts, conversations, messages and users.
#include <memory>

#include <lia/conversation/app.hpp>

int main(int argc, char** argv) {
  return lia::runtime::run(argc, argv, lia::conversation::spec(),
                           std::make_unique<lia::conversation::App>());
}
