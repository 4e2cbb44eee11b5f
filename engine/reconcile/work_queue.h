#pragma once

// WorkQueue: the reconciler's queue of keys to look at, controller-runtime style.
//
// - A key is in the queue at most once: adding a queued key again merges the two (the earlier
//   due time wins; urgent wins), so a burst of events for one instance costs one reconcile.
// - Urgent keys (the kill switch: stop or delete) come out before every non-urgent key,
//   whatever their due times.
// - Time is whatever the caller passes (the reconciler's injected clock): nothing here sleeps.
//
// Thread-safety: none; the reconciler guards it.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace clawvisor {

template <typename Key>
class WorkQueue {
 public:
  void Add(const Key& key, int64_t due, bool urgent = false) {
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      Entry& e = it->second;
      const bool now_urgent = e.urgent || urgent;
      const int64_t now_due = std::min(e.due, due);
      if (now_urgent == e.urgent && now_due == e.due) return;
      order_.erase({!e.urgent, e.due, key});
      e = Entry{now_due, now_urgent};
      order_.insert({!e.urgent, e.due, key});
      return;
    }
    entries_.emplace(key, Entry{due, urgent});
    order_.insert({!urgent, due, key});
  }

  // The next key that is due at `now` (urgent ones first), removed from the queue.
  std::optional<Key> PopDue(int64_t now) {
    if (order_.empty()) return std::nullopt;
    auto first = order_.begin();
    const auto& [not_urgent, due, key] = *first;
    if (not_urgent && due > now) return std::nullopt;
    Key out = key;
    entries_.erase(key);
    order_.erase(first);
    return out;
  }

  // When the next key falls due (an urgent key is due at once).
  std::optional<int64_t> NextDue() const {
    if (order_.empty()) return std::nullopt;
    const auto& [not_urgent, due, key] = *order_.begin();
    return not_urgent ? due : INT64_MIN;
  }

  bool Contains(const Key& key) const { return entries_.contains(key); }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int64_t due;
    bool urgent;
  };
  std::map<Key, Entry> entries_;
  std::set<std::tuple<bool, int64_t, Key>> order_;  // (not urgent, due, key)
};

}  // namespace clawvisor
