#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>

#include <pthread.h>
#include <sys/random.h>

#include <lia/core/uuid.hpp>

namespace lia::core {
namespace {

// The kernel's CSPRNG (getrandom), read 256 bytes at a time into a per-thread buffer: an id's
// random bits cannot be predicted from ids seen before (a seeded Mersenne Twister's can, from
// a few hundred of them). A forked child drops what its parent had buffered, so the two never
// hand out the same bits.
std::atomic<unsigned> g_fork_generation{0};

struct RandomBuffer {
  std::array<std::uint8_t, 256> bytes{};
  std::size_t used = bytes.size();
  unsigned generation = 0;

  std::uint64_t next() {
    const unsigned now = g_fork_generation.load(std::memory_order_relaxed);
    if (generation != now) {
      generation = now;
      used = bytes.size();
    }
    if (used + 8 > bytes.size()) refill();
    std::uint64_t r = 0;
    std::memcpy(&r, bytes.data() + used, sizeof r);
    used += 8;
    return r;
  }

  void refill() {
    std::size_t got = 0;
    while (got < bytes.size()) {
      const auto n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "getrandom");
      }
      got += static_cast<std::size_t>(n);
    }
    used = 0;
  }
};

std::uint64_t random_u64() {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr,
                     [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  thread_local RandomBuffer buffer;
  return buffer.next();
}

void fill_random(Uuid::Bytes& b, std::size_t from) {
  for (std::size_t i = from; i < b.size(); i += 8) {
    std::uint64_t r = random_u64();
    for (std::size_t j = 0; j < 8 && i + j < b.size(); ++j)
      b[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Uuid Uuid::v4() {
  Bytes b{};
  fill_random(b, 0);
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);
  return Uuid(b);
}

Uuid Uuid::v7(const Clock& clock) {
  // 48-bit ms timestamp, then a 12-bit counter (rand_a) that keeps ids created in the same
  // millisecond by this process strictly increasing (RFC 9562 §6.2 method 1).
  static std::mutex mu;
  static std::uint64_t last_ms = 0;
  static std::uint16_t seq = 0;
  auto ms = static_cast<std::uint64_t>(clock.now_ms());
  std::uint16_t counter = 0;
  {
    std::lock_guard lock(mu);
    if (ms <= last_ms) {
      ms = last_ms;
      if (++seq > 0x0FFF) {  // counter exhausted: borrow the next millisecond
        ++ms;
        last_ms = ms;
        seq = static_cast<std::uint16_t>(random_u64() & 0x01FF);
      }
    } else {
      last_ms = ms;
      seq = static_cast<std::uint16_t>(random_u64() & 0x01FF);  // leave headroom
    }
    counter = seq;
  }
  Bytes b{};
  fill_random(b, 8);
  for (int i = 0; i < 6; ++i)
    b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 8) & 0x0F));
  b[7] = static_cast<std::uint8_t>(counter & 0xFF);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);
  return Uuid(b);
}

std::optional<Uuid> Uuid::parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Bytes b{};
  std::size_t bi = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int hi = hex_value(text[i]);
    const int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    b[bi++] = static_cast<std::uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return Uuid(b);
}

std::string Uuid::str() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[bytes_[i] >> 4]);
    s.push_back(kHex[bytes_[i] & 0x0F]);
  }
  return s;
}

bool Uuid::is_nil() const {
  for (auto x : bytes_) {
    if (x != 0) return false;
  }
  return true;
}

std::uint64_t Uuid::unix_ms() const {
  std::uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | bytes_[static_cast<std::size_t>(i)];
  return ms;
}

}  // namespace lia::core
