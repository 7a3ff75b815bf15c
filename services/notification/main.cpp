// lia-notification: sends WhatsApp messages through Meta's Cloud API or the Evolution API.
#include <lia/notification/app.hpp>

int main(int argc, char** argv) {
  return lia::runtime::run(argc, argv, lia::notification::spec(),
                           std::make_unique<lia::notification::App>());
}
