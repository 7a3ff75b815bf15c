#include <lia/nps_gamification/app.hpp>

int main(int argc, char** argv) {
  return lia::runtime::run(argc, argv, lia::nps_gamification::spec(),
                           std::make_unique<lia::nps_gamification::App>());
}
