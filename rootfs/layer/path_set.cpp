// SPDX-License-Identifier: Apache-2.0
// PathSet: component-wise insertion and lookup.
#include "rootfs/layer/path_set.hpp"

namespace nexus::rootfs::layer {

namespace {

// Calls fn(component) for each component of a normalised path; stops when fn returns false.
template <class Fn>
void for_each_component(std::string_view rel, Fn&& fn) {
  while (!rel.empty()) {
    size_t slash = rel.find('/');
    if (!fn(rel.substr(0, slash))) return;
    rel = slash == std::string_view::npos ? std::string_view() : rel.substr(slash + 1);
  }
}

}  // namespace

void PathSet::insert(std::string_view rel) {
  Node* node = &root_;
  for_each_component(rel, [&](std::string_view part) {
    auto& slot = node->children[std::string(part)];
    if (!slot) slot = std::make_unique<Node>();
    node = slot.get();
    return true;
  });
}

const PathSet::Node* PathSet::find(std::string_view rel) const {
  const Node* node = &root_;
  for_each_component(rel, [&](std::string_view part) {
    node = child(node, part);
    return node != nullptr;
  });
  return node;
}

const PathSet::Node* PathSet::child(const Node* node, std::string_view name) {
  if (node == nullptr) return nullptr;
  auto it = node->children.find(std::string(name));
  return it == node->children.end() ? nullptr : it->second.get();
}

}  // namespace nexus::rootfs::layer
