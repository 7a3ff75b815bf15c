#include <memory>

#include "src/app.hpp"

int main(int argc, char** argv) {
  const auto spec = lia::ingestion::spec();
  return lia::runtime::run(argc, argv, spec, std::make_unique<lia::ingestion::App>(spec.schema));
}
