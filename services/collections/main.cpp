#include <lia/collections/app.hpp>

int main(int argc, char** argv) {
  return lia::runtime::run(argc, argv, lia::collections::spec(),
                           std::make_unique<lia::collections::App>());
}
