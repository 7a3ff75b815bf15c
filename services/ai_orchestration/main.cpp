// lia-ai-orchestration: answers customers as LIA's assistants (see README.md).
#include <memory>

#include "app.hpp"

int main(int argc, char** argv) {
  return lia::runtime::run(argc, argv, lia::ai_orchestration::spec(),
                           std::make_unique<lia::ai_orchestration::App>());
}
