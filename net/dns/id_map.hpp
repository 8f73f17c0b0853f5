// SPDX-License-Identifier: Apache-2.0
// IdMap: the queries in flight to upstream resolvers, keyed by the random 16-bit ID each one
// was sent with. A sandbox's own ID is never sent upstream: every query (and every retry)
// gets a fresh ID from getrandom(2), so a sandbox can neither predict the IDs of others'
// queries nor collide with them, and an off-path spoofer has to guess 16 random bits on top
// of the source port. Loop-thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>

namespace nexus::net::dns {

/// 16 random bits (getrandom(2), buffered per thread).
uint16_t random_u16();

template <class T>
class IdMap {
 public:
  /// At most `capacity` entries (kept below 65536 so a free ID always exists).
  explicit IdMap(size_t capacity) : capacity_(capacity < 60000 ? capacity : 60000) {}

  /// Stores `value` under a fresh random ID not in use; nullopt when full.
  std::optional<uint16_t> insert(T value) {
    auto id = fresh_id();
    if (!id) return std::nullopt;
    entries_.emplace(*id, std::move(value));
    return id;
  }
  T* find(uint16_t id) {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }
  void erase(uint16_t id) { entries_.erase(id); }
  /// Moves the entry under `id` to a fresh random ID (a retry must not be answerable with
  /// the ID of the attempt before it); nullopt when `id` is unknown.
  std::optional<uint16_t> rekey(uint16_t id) {
    auto node = entries_.extract(id);
    if (node.empty()) return std::nullopt;
    auto fresh = fresh_id(id);
    if (!fresh) return std::nullopt;  // cannot happen: the extracted slot is free
    node.key() = *fresh;
    entries_.insert(std::move(node));
    return fresh;
  }
  size_t size() const { return entries_.size(); }
  bool full() const { return entries_.size() >= capacity_; }
  template <class F>
  void for_each(F&& f) {
    for (auto& [id, v] : entries_) f(id, v);
  }

 private:
  // A random ID that is neither in use nor `avoid` (the one a retry leaves).
  std::optional<uint16_t> fresh_id(std::optional<uint16_t> avoid = std::nullopt) {
    if (full()) return std::nullopt;
    auto usable = [&](uint16_t id) { return id != avoid && !entries_.contains(id); };
    // At most 60000 of 65536 IDs are in use, so a random draw is free with probability >= 8%;
    // in practice the map holds a few hundred and the first draw wins.
    for (int i = 0; i < 256; ++i) {
      uint16_t id = random_u16();
      if (usable(id)) return id;
    }
    for (uint32_t id = random_u16(), n = 0; n < 65536; ++n, id = (id + 1) & 0xFFFF)
      if (usable(static_cast<uint16_t>(id))) return static_cast<uint16_t>(id);
    return std::nullopt;
  }

  size_t capacity_;
  std::unordered_map<uint16_t, T> entries_;
};

}  // namespace nexus::net::dns
