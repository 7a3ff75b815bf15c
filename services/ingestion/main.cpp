#include <memory>

#include "src/app.hpp"

int main(int argc, char** argv) {
  return lia::runtime::run(argc, argv, lia::ingestion::spec(),
                           std::make_unique<lia::ingestion::App>());
}
